package stp

import "time"

// IEEE 802.1D-2004 clause 17, the Rapid Spanning Tree Protocol: the state
// machines of 17.23-17.31 with the variables of 17.18-17.19, run until
// they settle after every event (as Open vSwitch's move_rstp does), with
// the corrections 802.1Q-2008 made (recordAgreement in the repeated and
// superior designated states, the disputed flag, rcvdTcn from TCN BPDUs).
// Timers count whole seconds and are decremented once a second (17.22).

// vector is a spanning tree priority vector (17.5-17.6).
type vector struct {
	root       BridgeID
	cost       uint32
	bridge     BridgeID // designated bridge
	port       PortID   // designated port
	bridgePort PortID   // the receiving port
}

type cmp uint8

const (
	inferior cmp = iota
	superior
	same
)

// compare is 17.6: v1 is superior to v2 if it is better, or if it comes
// from the same designated bridge (address) and port (number); same if the
// four components are equal.
func compare(v1, v2 vector) cmp {
	if v1.root == v2.root && v1.cost == v2.cost && v1.bridge == v2.bridge && v1.port == v2.port {
		switch {
		case v1.bridgePort < v2.bridgePort:
			return superior
		case v1.bridgePort > v2.bridgePort:
			return inferior
		}
		return same
	}
	if v1.root < v2.root ||
		v1.root == v2.root && v1.cost < v2.cost ||
		v1.root == v2.root && v1.cost == v2.cost && v1.bridge < v2.bridge ||
		v1.root == v2.root && v1.cost == v2.cost && v1.bridge == v2.bridge && v1.port < v2.port ||
		v1.bridge.MAC() == v2.bridge.MAC() && v1.port.Number() == v2.port.Number() {
		return superior
	}
	return inferior
}

// times are the timer parameters carried in BPDUs, in whole seconds.
type times struct {
	msgAge, maxAge, fwdDelay, hello int
}

func durSecs(d time.Duration) int { return int((d + time.Second/2) / time.Second) }

type infoIs uint8

const (
	infoDisabled infoIs = iota
	infoAged
	infoMine
	infoReceived
)

type rcvdInfo uint8

const (
	superiorDesignatedInfo rcvdInfo = iota
	repeatedDesignatedInfo
	inferiorDesignatedInfo
	inferiorRootAlternateInfo
	otherInfo
)

type rstpBridge struct {
	begin        bool
	bridgePrio   vector
	bridgeTimes  times
	rootPortID   PortID
	rootPriority vector
	rootTimes    times
	prsState     int
	lastTick     time.Time
}

type rstpPort struct {
	begin bool
	// State machine states.
	prx, ppm, bdm, ptx, pim, prt, pst, tcm int

	agree, agreed, disputed, fdbFlush    bool
	forward, forwarding, learn, learning bool
	mcheck, newInfo, operEdge            bool
	proposed, proposing                  bool
	rcvdBPDU, rcvdMsg, rcvdRSTP, rcvdSTP bool
	rcvdTc, rcvdTcAck, rcvdTcn           bool
	reRoot, reselect, selected           bool
	sendRSTP, sync, synced               bool
	tcAck, tcProp, updtInfo              bool

	infoIs       infoIs
	rcvdInfo     rcvdInfo
	role         Role
	selectedRole Role

	designatedPriority, msgPriority, portPriority vector
	designatedTimes, msgTimes, portTimes          times

	rx BPDU // the BPDU being received

	changedInPRT bool // a sub-state of the role transitions machine ran

	// Timers, in seconds.
	edgeDelayWhile, fdWhile, helloWhen, mdelayWhile int
	rbWhile, rcvdInfoWhile, rrWhile, tcWhile        int
	txCount                                         int
}

func (b *Bridge) migrateTime() int { return durSecs(MigrateTime) }

func (b *Bridge) rstpBegin() {
	r := &b.r
	r.bridgePrio = vector{root: b.id, bridge: b.id}
	r.bridgeTimes = times{maxAge: durSecs(b.cfg.MaxAge), fwdDelay: durSecs(b.cfg.ForwardDelay), hello: durSecs(b.cfg.HelloTime)}
	r.rootPriority, r.rootTimes, r.rootPortID = r.bridgePrio, r.bridgeTimes, 0
	r.lastTick = b.now
	r.prsState = 0
	for _, no := range b.order {
		b.rstpPortBegin(b.ports[no])
	}
	r.begin = true
	if b.out != nil {
		b.rstpMove()
	}
}

// rstpPortBegin puts a port's machines in their BEGIN states.
func (b *Bridge) rstpPortBegin(p *port) {
	p.r = rstpPort{begin: true}
	p.r.designatedTimes = b.r.rootTimes
	p.r.portTimes = b.r.rootTimes
	p.r.portPriority = vector{root: ^BridgeID(0), cost: ^uint32(0), bridge: ^BridgeID(0), port: ^PortID(0), bridgePort: ^PortID(0)}
	p.state, p.role = Discarding, RoleDisabled
	if !p.enabled() {
		p.state = Disabled
	}
	p.r.reselect = true
}

func (b *Bridge) rstpPortConfigChanged(p *port) {
	p.r.reselect, p.r.selected = true, false
	switch p.cfg.Edge {
	case EdgeOn:
		if !p.r.operEdge && p.r.rcvdBPDU == false {
			p.r.operEdge = true
			p.r.bdm = bdmEdge
		}
	case EdgeOff:
		p.r.operEdge = false
		p.r.bdm = bdmNotEdge
	}
}

func (b *Bridge) rstpLinkChanged(p *port) {
	if !p.enabled() {
		p.r.rcvdBPDU = false
	}
}

// rstpReceive records a BPDU for the port receive machine.
func (b *Bridge) rstpReceive(p *port, bpdu *BPDU) {
	if p.r.rcvdBPDU {
		return // the previous one is not processed yet (cannot happen: moves settle)
	}
	p.r.rx = *bpdu
	p.r.rcvdBPDU = true
}

// rstpAdvance runs the port timers machine (17.22) once per whole second
// that passed, moving the state machines after each tick.
func (b *Bridge) rstpAdvance(now time.Time) {
	r := &b.r
	b.now = now
	n := int(now.Sub(r.lastTick) / time.Second)
	if n <= 0 {
		return
	}
	if n > 3600 {
		n = 3600
	}
	r.lastTick = r.lastTick.Add(time.Duration(n) * time.Second)
	if now.Sub(r.lastTick) >= time.Second {
		r.lastTick = now
	}
	for i := 0; i < n; i++ {
		for _, no := range b.order {
			t := &b.ports[no].r
			for _, v := range []*int{&t.helloWhen, &t.tcWhile, &t.fdWhile, &t.rcvdInfoWhile, &t.rrWhile, &t.rbWhile, &t.mdelayWhile, &t.edgeDelayWhile, &t.txCount} {
				if *v > 0 {
					*v--
				}
			}
		}
		b.rstpMove()
	}
}

// rstpMove runs every machine until none changes state.
func (b *Bridge) rstpMove() {
	for i := 0; i < 1000; i++ {
		changed := b.prs()
		for _, no := range b.order {
			p := b.ports[no]
			changed = b.prx(p) || changed
			changed = b.ppm(p) || changed
			changed = b.bdm(p) || changed
			changed = b.pim(p) || changed
			changed = b.prt(p) || changed
			changed = b.pst(p) || changed
			changed = b.tcm(p) || changed
			changed = b.ptx(p) || changed
		}
		b.r.begin = false
		for _, no := range b.order {
			p := b.ports[no]
			p.r.begin = false
			if p.r.fdbFlush {
				b.out.flush(p.no)
				p.r.fdbFlush = false
			}
		}
		if !changed {
			break
		}
	}
	for _, no := range b.order {
		p := b.ports[no]
		p.role = p.r.role
		switch {
		case !p.enabled():
			p.state = Disabled
		case p.r.forwarding:
			p.state = Forwarding
		case p.r.learning:
			p.state = Learning
		default:
			p.state = Discarding
		}
		held := p.cfg.RootGuard && p.r.selectedRole == RoleAlternate && p.r.infoIs == infoReceived &&
			compare(b.candidate(p), b.r.rootPriority) == superior
		if held && !p.rootGuard {
			p.counters.RootGuard++
		}
		p.rootGuard = held
	}
}

func (b *Bridge) beginFor(p *port) bool { return b.r.begin || p.r.begin }

func (b *Bridge) rstpVersion() bool { return true }

func (p *port) operP2P() bool { return p.cfg.PointToPoint != P2POff }

// ---- 17.28 Port Role Selection ----

const (
	prsInitBridge = iota + 1
	prsRoleSelection
)

func (b *Bridge) prs() bool {
	r := &b.r
	old := r.prsState
	if r.begin {
		// INIT_BRIDGE: updtRoleDisabledTree.
		for _, no := range b.order {
			b.ports[no].r.selectedRole = RoleDisabled
		}
		r.prsState = prsInitBridge
	}
	reselect := false
	for _, no := range b.order {
		if b.ports[no].r.reselect {
			reselect = true
		}
	}
	if r.prsState == prsInitBridge || r.prsState == prsRoleSelection && reselect || r.prsState == 0 {
		// ROLE_SELECTION: clearReselectTree, updtRolesTree, setSelectedTree.
		for _, no := range b.order {
			b.ports[no].r.reselect = false
		}
		b.updtRolesTree()
		for _, no := range b.order {
			b.ports[no].r.selected = true
		}
		r.prsState = prsRoleSelection
		return true
	}
	return old != r.prsState
}

// candidate is a port's root path priority vector (17.6): its port
// priority vector with its path cost added and its own port ID.
func (b *Bridge) candidate(p *port) vector {
	v := p.r.portPriority
	v.cost += p.cost
	v.bridgePort = p.id
	return v
}

// updtRolesTree is 17.21.25, with root guard: a restricted-role port is
// never chosen as root port (802.1Q 13.25.36) and so becomes alternate
// when its information is superior.
func (b *Bridge) updtRolesTree() {
	r := &b.r
	best := r.bridgePrio
	r.rootTimes = r.bridgeTimes
	var rootPort *port
	for _, no := range b.order {
		p := b.ports[no]
		if p.r.infoIs != infoReceived || p.cfg.RootGuard {
			continue
		}
		c := b.candidate(p)
		if c.bridge.MAC() == b.id.MAC() {
			continue // our own information, looped back
		}
		if compare(c, best) == superior && c != best {
			best = c
			rootPort = p
			r.rootTimes = p.r.portTimes
			r.rootTimes.msgAge++
		}
	}
	r.rootPriority = best
	r.rootPortID = 0
	if rootPort != nil {
		r.rootPortID = rootPort.id
	}
	for _, no := range b.order {
		p := b.ports[no]
		p.r.designatedPriority = vector{root: best.root, cost: best.cost, bridge: b.id, port: p.id, bridgePort: p.id}
		p.r.designatedTimes = r.rootTimes
		p.r.designatedTimes.hello = r.bridgeTimes.hello
	}
	for _, no := range b.order {
		p := b.ports[no]
		switch p.r.infoIs {
		case infoDisabled:
			p.r.selectedRole = RoleDisabled
		case infoAged:
			p.r.updtInfo = true
			p.r.selectedRole = RoleDesignated
		case infoMine:
			p.r.selectedRole = RoleDesignated
			if compare(p.r.portPriority, p.r.designatedPriority) != same || p.r.portTimes != r.rootTimes {
				p.r.updtInfo = true
			}
		case infoReceived:
			switch {
			case p == rootPort:
				p.r.selectedRole = RoleRoot
				p.r.updtInfo = false
			case compare(p.r.designatedPriority, p.r.portPriority) == inferior:
				if p.r.portPriority.bridge.MAC() != b.id.MAC() {
					p.r.selectedRole = RoleAlternate
				} else {
					p.r.selectedRole = RoleBackup
				}
				p.r.updtInfo = false
			default:
				p.r.selectedRole = RoleDesignated
				p.r.updtInfo = true
			}
		}
	}
}

// ---- 17.23 Port Receive ----

const (
	prxDiscard = iota + 1
	prxReceive
)

func (b *Bridge) prx(p *port) bool {
	t := &p.r
	old := t.prx
	entered := false
	enter := func(s int) {
		entered = true
		t.prx = s
		switch s {
		case prxDiscard:
			t.rcvdBPDU, t.rcvdRSTP, t.rcvdSTP, t.rcvdMsg = false, false, false, false
			t.edgeDelayWhile = b.migrateTime()
		case prxReceive:
			// updtBPDUVersion (17.21.22)
			if t.rx.Type == TypeRST {
				t.rcvdRSTP, t.rcvdSTP = true, false
			} else {
				t.rcvdRSTP, t.rcvdSTP = false, true
			}
			t.operEdge, t.rcvdBPDU = false, false
			t.rcvdMsg = true
			t.edgeDelayWhile = b.migrateTime()
		}
	}
	switch {
	case b.beginFor(p):
		enter(prxDiscard)
	case (t.rcvdBPDU || t.edgeDelayWhile != b.migrateTime()) && !p.enabled():
		enter(prxDiscard)
	case t.prx == prxDiscard && t.rcvdBPDU && p.enabled():
		enter(prxReceive)
	case t.prx == prxReceive && t.rcvdBPDU && p.enabled() && !t.rcvdMsg:
		enter(prxReceive)
	}
	return old != t.prx || entered
}

// ---- 17.24 Port Protocol Migration ----

const (
	ppmCheckingRSTP = iota + 1
	ppmSelectingSTP
	ppmSensing
)

func (b *Bridge) ppm(p *port) bool {
	t := &p.r
	old := t.ppm
	enter := func(s int) {
		t.ppm = s
		switch s {
		case ppmCheckingRSTP:
			t.mcheck = false
			t.sendRSTP = b.rstpVersion()
			t.mdelayWhile = b.migrateTime()
		case ppmSelectingSTP:
			t.sendRSTP = false
			t.mdelayWhile = b.migrateTime()
			p.counters.Migrations++
		case ppmSensing:
			t.rcvdRSTP, t.rcvdSTP = false, false
		}
	}
	if b.beginFor(p) {
		enter(ppmCheckingRSTP)
		return true
	}
	switch t.ppm {
	case ppmCheckingRSTP:
		if t.mdelayWhile == 0 {
			enter(ppmSensing)
		} else if t.mdelayWhile != b.migrateTime() && !p.enabled() {
			enter(ppmCheckingRSTP)
		}
	case ppmSelectingSTP:
		if t.mdelayWhile == 0 || !p.enabled() || t.mcheck {
			enter(ppmSensing)
		}
	case ppmSensing:
		if !p.enabled() || t.mcheck || b.rstpVersion() && !t.sendRSTP && t.rcvdRSTP {
			enter(ppmCheckingRSTP)
		} else if t.sendRSTP && t.rcvdSTP {
			enter(ppmSelectingSTP)
		}
	}
	return old != t.ppm
}

// ---- 17.25 Bridge Detection ----

const (
	bdmEdge = iota + 1
	bdmNotEdge
)

func (b *Bridge) bdm(p *port) bool {
	t := &p.r
	old := t.bdm
	adminEdge := p.cfg.Edge == EdgeOn
	autoEdge := p.cfg.Edge == EdgeAuto
	if b.beginFor(p) {
		if adminEdge {
			t.bdm, t.operEdge = bdmEdge, true
		} else {
			t.bdm, t.operEdge = bdmNotEdge, false
		}
		return true
	}
	switch t.bdm {
	case bdmEdge:
		if !p.enabled() && !adminEdge || !t.operEdge {
			t.bdm, t.operEdge = bdmNotEdge, false
		}
	case bdmNotEdge:
		if !p.enabled() && adminEdge || t.edgeDelayWhile == 0 && autoEdge && t.sendRSTP && t.proposing {
			t.bdm, t.operEdge = bdmEdge, true
		}
	}
	return old != t.bdm
}

// ---- 17.26 Port Transmit ----

const (
	ptxTransmitInit = iota + 1
	ptxIdle
)

func (b *Bridge) ptx(p *port) bool {
	t := &p.r
	old := t.ptx
	if b.beginFor(p) {
		t.newInfo, t.txCount = true, 0
		t.ptx = ptxTransmitInit
		return true
	}
	switch t.ptx {
	case ptxTransmitInit:
		t.ptx = ptxIdle
		t.helloWhen = b.r.bridgeTimes.hello
		return true
	case ptxIdle:
		if t.role == RoleDisabled || !t.selected || t.updtInfo {
			return false
		}
		hold := b.cfg.TxHoldCount
		switch {
		case t.sendRSTP && t.newInfo && t.txCount < hold && t.helloWhen != 0:
			t.newInfo = false
			b.txRSTP(p)
			t.txCount++
			t.tcAck = false
		case t.helloWhen == 0:
			// TRANSMIT_PERIODIC
			t.newInfo = t.newInfo || t.role == RoleDesignated || t.role == RoleRoot && t.tcWhile != 0
			t.helloWhen = b.r.bridgeTimes.hello
			return true
		case !t.sendRSTP && t.newInfo && t.role == RoleRoot && t.txCount < hold && t.helloWhen != 0:
			t.newInfo = false
			b.send(p, &BPDU{Version: VersionSTP, Type: TypeTCN})
			t.txCount++
		case !t.sendRSTP && t.newInfo && t.role == RoleDesignated && t.txCount < hold && t.helloWhen != 0:
			t.newInfo = false
			b.txConfig(p)
			t.txCount++
			t.tcAck = false
		default:
			return false
		}
		// Back to IDLE: helloWhen restarts.
		t.helloWhen = b.r.bridgeTimes.hello
		return true
	}
	return old != t.ptx
}

func secsDur(s int) time.Duration { return time.Duration(s) * time.Second }

func (b *Bridge) bpduFrom(p *port) BPDU {
	t := &p.r
	return BPDU{Root: t.designatedPriority.root, Cost: t.designatedPriority.cost, Bridge: t.designatedPriority.bridge,
		Port: t.designatedPriority.port, MessageAge: secsDur(t.designatedTimes.msgAge), MaxAge: secsDur(t.designatedTimes.maxAge),
		HelloTime: secsDur(t.designatedTimes.hello), ForwardDelay: secsDur(t.designatedTimes.fwdDelay)}
}

// txConfig is 17.21.19: a Configuration BPDU (version 0, which the Linux
// bridge accepts) for a port facing an STP bridge.
func (b *Bridge) txConfig(p *port) {
	bp := b.bpduFrom(p)
	bp.Version, bp.Type = VersionSTP, TypeConfig
	if p.r.tcWhile != 0 {
		bp.Flags |= FlagTC
	}
	if p.r.tcAck {
		bp.Flags |= FlagTCAck
	}
	b.send(p, &bp)
}

// txRSTP is 17.21.20.
func (b *Bridge) txRSTP(p *port) {
	t := &p.r
	bp := b.bpduFrom(p)
	bp.Version, bp.Type = VersionRSTP, TypeRST
	switch t.role {
	case RoleRoot:
		bp.Flags = roleRootFlag << roleShift
	case RoleDesignated:
		bp.Flags = roleDesignFlag << roleShift
	case RoleAlternate, RoleBackup:
		bp.Flags = roleAltBackup << roleShift
	}
	if t.agree {
		bp.Flags |= FlagAgreement
	}
	if t.proposing {
		bp.Flags |= FlagProposal
	}
	if t.tcWhile != 0 {
		bp.Flags |= FlagTC
	}
	if t.learning {
		bp.Flags |= FlagLearning
	}
	if t.forwarding {
		bp.Flags |= FlagForwarding
	}
	b.send(p, &bp)
}

// ---- 17.27 Port Information ----

const (
	pimDisabled = iota + 1
	pimAged
	pimUpdate
	pimCurrent
	pimReceive
)

func (b *Bridge) rcvInfo(p *port) rcvdInfo {
	t := &p.r
	rx := &t.rx
	if rx.Type == TypeTCN {
		t.rcvdTcn = true
		return otherInfo
	}
	t.msgPriority = vector{root: rx.Root, cost: rx.Cost, bridge: rx.Bridge, port: rx.Port, bridgePort: t.portPriority.bridgePort}
	t.msgTimes = times{msgAge: durSecs(rx.MessageAge), maxAge: durSecs(rx.MaxAge), fwdDelay: durSecs(rx.ForwardDelay), hello: durSecs(rx.HelloTime)}
	cp := compare(t.msgPriority, t.portPriority)
	sameTimes := t.msgTimes == t.portTimes
	role := uint8(roleDesignFlag)
	if rx.Type == TypeRST {
		role = rx.role()
	}
	switch {
	case role == roleDesignFlag && (cp == superior || cp == same && !sameTimes):
		return superiorDesignatedInfo
	case role == roleDesignFlag && cp == same && sameTimes:
		return repeatedDesignatedInfo
	case role == roleDesignFlag && cp == inferior:
		return inferiorDesignatedInfo
	case (role == roleRootFlag || role == roleAltBackup) && (cp == inferior || cp == same):
		return inferiorRootAlternateInfo
	}
	return otherInfo
}

func (b *Bridge) recordAgreement(p *port) {
	t := &p.r
	if b.rstpVersion() && p.operP2P() && t.rx.Type == TypeRST && t.rx.Flags&FlagAgreement != 0 {
		t.agreed, t.proposing = true, false
	} else {
		t.agreed = false
	}
}

func (b *Bridge) setTcFlags(p *port) {
	t := &p.r
	switch t.rx.Type {
	case TypeConfig, TypeRST:
		if t.rx.Flags&FlagTC != 0 {
			t.rcvdTc = true
		}
		if t.rx.Flags&FlagTCAck != 0 {
			t.rcvdTcAck = true
		}
	case TypeTCN:
		t.rcvdTcn = true
	}
}

func (b *Bridge) recordProposal(p *port) {
	t := &p.r
	if t.rx.Type == TypeRST && t.rx.role() == roleDesignFlag && t.rx.Flags&FlagProposal != 0 {
		t.proposed = true
	}
}

func (b *Bridge) recordDispute(p *port) {
	t := &p.r
	if t.rx.Type == TypeRST && t.rx.Flags&FlagLearning != 0 {
		t.disputed, t.agreed = true, false
	}
}

func (b *Bridge) updtRcvdInfoWhile(p *port) {
	t := &p.r
	if t.portTimes.msgAge+1 <= t.portTimes.maxAge {
		t.rcvdInfoWhile = 3 * t.portTimes.hello
	} else {
		t.rcvdInfoWhile = 0
	}
}

// betterOrSameInfo is 17.21.1.
func (b *Bridge) betterOrSameInfo(p *port, received bool) bool {
	t := &p.r
	if received {
		return t.infoIs == infoReceived && compare(t.msgPriority, t.portPriority) != inferior
	}
	return t.infoIs == infoMine && compare(t.designatedPriority, t.portPriority) != inferior
}

func (b *Bridge) pim(p *port) bool {
	t := &p.r
	old := t.pim
	disable := func() {
		t.pim = pimDisabled
		t.rcvdMsg = false
		t.proposing, t.proposed, t.agree, t.agreed = false, false, false, false
		t.rcvdInfoWhile = 0
		t.infoIs = infoDisabled
		t.reselect, t.selected = true, false
	}
	aged := func() {
		t.pim = pimAged
		t.infoIs = infoAged
		t.reselect, t.selected = true, false
	}
	if b.beginFor(p) || !p.enabled() && t.infoIs != infoDisabled {
		if b.beginFor(p) || t.pim != pimDisabled || t.infoIs != infoDisabled {
			disable()
			return true
		}
	}
	switch t.pim {
	case pimDisabled:
		if p.enabled() {
			aged()
		} else if t.rcvdMsg {
			disable()
		}
	case pimAged:
		if t.selected && t.updtInfo {
			b.pimUpdate(p)
		}
	case pimCurrent:
		switch {
		case t.rcvdMsg && !t.updtInfo:
			b.pimReceive(p)
		case t.selected && t.updtInfo:
			b.pimUpdate(p)
		case t.infoIs == infoReceived && t.rcvdInfoWhile == 0 && !t.updtInfo && !t.rcvdMsg:
			aged()
		}
	}
	return old != t.pim
}

func (b *Bridge) pimUpdate(p *port) {
	t := &p.r
	t.proposing, t.proposed = false, false
	t.agreed = t.agreed && b.betterOrSameInfo(p, false)
	t.synced = t.synced && t.agreed
	t.portPriority = t.designatedPriority
	t.portTimes = t.designatedTimes
	t.updtInfo = false
	t.infoIs = infoMine
	t.newInfo = true
	t.pim = pimCurrent // UPDATE → CURRENT (unconditional)
}

func (b *Bridge) pimReceive(p *port) {
	t := &p.r
	t.rcvdInfo = b.rcvInfo(p)
	switch t.rcvdInfo {
	case superiorDesignatedInfo:
		// 802.1Q-2008 checkBPDUConsistency: a superior designated BPDU with
		// the learning flag means the other bridge thinks it is designated
		// and learning; clear agreed on the other ports.
		if t.rx.Type == TypeRST && t.rx.Flags&FlagLearning != 0 {
			for _, no := range b.order {
				if q := b.ports[no]; q != p {
					q.r.agreed = false
				}
			}
		}
		t.agreed, t.proposing = false, false
		b.recordProposal(p)
		b.setTcFlags(p)
		t.agree = t.agree && b.betterOrSameInfo(p, true)
		b.recordAgreement(p)
		t.synced = t.synced && t.agreed
		t.portPriority = t.msgPriority
		t.portTimes = t.msgTimes
		if t.portTimes.hello == 0 {
			t.portTimes.hello = 1
		}
		b.updtRcvdInfoWhile(p)
		t.infoIs = infoReceived
		t.reselect, t.selected = true, false
	case repeatedDesignatedInfo:
		b.recordProposal(p)
		b.setTcFlags(p)
		b.recordAgreement(p)
		b.updtRcvdInfoWhile(p)
	case inferiorDesignatedInfo:
		b.recordDispute(p)
	case inferiorRootAlternateInfo:
		b.recordAgreement(p)
		b.setTcFlags(p)
	}
	t.rcvdMsg = false
	t.pim = pimCurrent
}

// ---- 17.29 Port Role Transitions ----

const (
	prtInitPort = iota + 1
	prtDisablePort
	prtDisabledPort
	prtRootPort
	prtDesignatedPort
	prtAlternatePort
	prtBlockPort
)

func (b *Bridge) forwardDelay(p *port) int {
	if p.r.sendRSTP {
		return p.r.designatedTimes.hello
	}
	return p.r.designatedTimes.fwdDelay
}

func (b *Bridge) edgeDelay(p *port) int {
	if p.operP2P() {
		return b.migrateTime()
	}
	return p.r.designatedTimes.maxAge
}

func (b *Bridge) reRooted(p *port) bool {
	for _, no := range b.order {
		if q := b.ports[no]; q != p && q.r.rrWhile != 0 {
			return false
		}
	}
	return true
}

func (b *Bridge) allSynced() bool {
	for _, no := range b.order {
		t := &b.ports[no].r
		if !(t.selected && t.role == t.selectedRole && (t.role == RoleRoot || t.synced)) {
			return false
		}
	}
	return true
}

func (b *Bridge) prt(p *port) bool {
	t := &p.r
	old, oldRole := t.prt, t.role
	if b.beginFor(p) {
		// INIT_PORT
		t.role = RoleDisabled
		t.learn, t.forward, t.synced = false, false, false
		t.sync, t.reRoot = true, true
		t.rrWhile = t.designatedTimes.fwdDelay
		t.fdWhile = t.designatedTimes.maxAge
		t.rbWhile = 0
		b.prtEnter(p, prtDisablePort)
		return true
	}
	// Global transition: the selected role changed.
	if t.selected && !t.updtInfo && t.role != t.selectedRole {
		switch t.selectedRole {
		case RoleDisabled:
			b.prtEnter(p, prtDisablePort)
		case RoleRoot:
			b.prtEnter(p, prtRootPort)
		case RoleDesignated:
			b.prtEnter(p, prtDesignatedPort)
		case RoleAlternate, RoleBackup:
			b.prtEnter(p, prtBlockPort)
		}
		return true
	}
	if !t.selected || t.updtInfo {
		return false
	}
	switch t.prt {
	case prtDisablePort:
		if !t.learning && !t.forwarding {
			b.prtEnter(p, prtDisabledPort)
		}
	case prtDisabledPort:
		if t.fdWhile != t.designatedTimes.maxAge || t.sync || t.reRoot || !t.synced {
			b.prtEnter(p, prtDisabledPort)
		}
	case prtRootPort:
		b.prtRoot(p)
	case prtDesignatedPort:
		b.prtDesignated(p)
	case prtAlternatePort:
		b.prtAlternate(p)
	case prtBlockPort:
		if !t.learning && !t.forwarding {
			b.prtEnter(p, prtAlternatePort)
		}
	}
	return old != t.prt || oldRole != t.role || t.changedInPRT
}

func (b *Bridge) prtEnter(p *port, s int) {
	t := &p.r
	t.prt = s
	switch s {
	case prtDisablePort:
		t.role = t.selectedRole
		t.learn, t.forward = false, false
	case prtDisabledPort:
		t.fdWhile = t.designatedTimes.maxAge
		t.synced = true
		t.rrWhile = 0
		t.sync, t.reRoot = false, false
	case prtRootPort:
		t.role = RoleRoot
		t.rrWhile = t.designatedTimes.fwdDelay
	case prtDesignatedPort:
		t.role = RoleDesignated
	case prtAlternatePort:
		t.fdWhile = b.forwardDelay(p)
		t.synced = true
		t.rrWhile = 0
		t.sync, t.reRoot = false, false
	case prtBlockPort:
		t.role = t.selectedRole
		t.learn, t.forward = false, false
	}
}

func (b *Bridge) setSyncTree() {
	for _, no := range b.order {
		b.ports[no].r.sync = true
	}
}

func (b *Bridge) setReRootTree() {
	for _, no := range b.order {
		b.ports[no].r.reRoot = true
	}
}

// prtRoot is the ROOT_PORT state and its sub-states (ROOT_PROPOSED,
// ROOT_AGREED, REROOT, ROOT_FORWARD, ROOT_LEARNED, REROOTED), each of which
// returns to ROOT_PORT.
func (b *Bridge) prtRoot(p *port) {
	t := &p.r
	t.changedInPRT = true
	rapid := b.reRooted(p) && t.rbWhile == 0 && b.rstpVersion()
	switch {
	case t.rrWhile != t.designatedTimes.fwdDelay:
		b.prtEnter(p, prtRootPort)
	case t.reRoot && t.forward:
		// REROOTED
		t.reRoot = false
	case (t.fdWhile == 0 || rapid) && !t.learn:
		// ROOT_LEARN
		t.fdWhile = b.forwardDelay(p)
		t.learn = true
	case (t.fdWhile == 0 || rapid) && t.learn && !t.forward:
		// ROOT_FORWARD
		t.fdWhile = 0
		t.forward = true
	case t.proposed && !t.agree:
		// ROOT_PROPOSED
		b.setSyncTree()
		t.proposed = false
	case b.allSynced() && !t.agree || t.proposed && t.agree:
		// ROOT_AGREED
		t.proposed, t.sync = false, false
		t.agree, t.newInfo = true, true
	case !t.forward && !t.reRoot:
		// REROOT
		b.setReRootTree()
	default:
		t.changedInPRT = false
	}
}

// prtDesignated is DESIGNATED_PORT and its sub-states.
func (b *Bridge) prtDesignated(p *port) {
	t := &p.r
	t.changedInPRT = true
	switch {
	case (t.sync && !t.synced || t.reRoot && t.rrWhile != 0 || t.disputed) && !t.operEdge && (t.learn || t.forward):
		// DESIGNATED_DISCARD
		t.learn, t.forward, t.disputed = false, false, false
		t.fdWhile = b.forwardDelay(p)
	case (t.fdWhile == 0 || t.agreed || t.operEdge) && (t.rrWhile == 0 || !t.reRoot) && !t.sync && !t.learn:
		// DESIGNATED_LEARN
		t.learn = true
		t.fdWhile = b.forwardDelay(p)
	case (t.fdWhile == 0 || t.agreed || t.operEdge) && (t.rrWhile == 0 || !t.reRoot) && !t.sync && t.learn && !t.forward:
		// DESIGNATED_FORWARD
		t.forward = true
		t.fdWhile = 0
		t.agreed = t.sendRSTP
	case !t.forward && !t.agreed && !t.proposing && !t.operEdge:
		// DESIGNATED_PROPOSE
		t.proposing = true
		t.edgeDelayWhile = b.edgeDelay(p)
		t.newInfo = true
	case !t.learning && !t.forwarding && !t.synced || t.agreed && !t.synced || t.operEdge && !t.synced || t.sync && t.synced:
		// DESIGNATED_SYNCED
		t.rrWhile = 0
		t.synced, t.sync = true, false
	case t.rrWhile == 0 && t.reRoot:
		// DESIGNATED_RETIRED
		t.reRoot = false
	default:
		t.changedInPRT = false
	}
}

// prtAlternate is ALTERNATE_PORT and its sub-states (ALTERNATE_PROPOSED,
// ALTERNATE_AGREED, BACKUP_PORT).
func (b *Bridge) prtAlternate(p *port) {
	t := &p.r
	t.changedInPRT = true
	switch {
	case t.rbWhile != 2*t.designatedTimes.hello && t.role == RoleBackup:
		// BACKUP_PORT, then ALTERNATE_PORT again
		t.rbWhile = 2 * t.designatedTimes.hello
		b.prtEnter(p, prtAlternatePort)
	case t.fdWhile != b.forwardDelay(p) || t.sync || t.reRoot || !t.synced:
		b.prtEnter(p, prtAlternatePort)
	case t.proposed && !t.agree:
		// ALTERNATE_PROPOSED
		b.setSyncTree()
		t.proposed = false
	case b.allSynced() && !t.agree || t.proposed && t.agree:
		// ALTERNATE_AGREED
		t.proposed = false
		t.agree, t.newInfo = true, true
	default:
		t.changedInPRT = false
	}
}

// ---- 17.30 Port State Transition ----

const (
	pstDiscarding = iota + 1
	pstLearning
	pstForwarding
)

func (b *Bridge) pst(p *port) bool {
	t := &p.r
	old := t.pst
	if b.beginFor(p) {
		t.pst, t.learning, t.forwarding = pstDiscarding, false, false
		return true
	}
	switch t.pst {
	case pstDiscarding:
		if t.learn {
			t.pst, t.learning = pstLearning, true
		}
	case pstLearning:
		if !t.learn {
			t.pst, t.learning, t.forwarding = pstDiscarding, false, false
		} else if t.forward {
			t.pst, t.forwarding = pstForwarding, true
		}
	case pstForwarding:
		if !t.forward {
			t.pst, t.learning, t.forwarding = pstDiscarding, false, false
		}
	}
	return old != t.pst
}

// ---- 17.31 Topology Change ----

const (
	tcmInactive = iota + 1
	tcmLearning
	tcmActive
)

func (b *Bridge) newTcWhile(p *port) {
	t := &p.r
	if t.tcWhile == 0 {
		if t.sendRSTP {
			t.tcWhile = b.r.bridgeTimes.hello + 1
			t.newInfo = true
		} else {
			t.tcWhile = b.r.rootTimes.maxAge + b.r.rootTimes.fwdDelay
		}
	}
}

func (b *Bridge) setTcPropTree(p *port) {
	for _, no := range b.order {
		if q := b.ports[no]; q != p {
			q.r.tcProp = true
		}
	}
}

func (b *Bridge) tcm(p *port) bool {
	t := &p.r
	old := t.tcm
	inactive := func() {
		t.tcm = tcmInactive
		t.fdbFlush = true
		t.tcWhile = 0
		t.tcAck = false
	}
	learning := func() {
		t.tcm = tcmLearning
		t.rcvdTc, t.rcvdTcn, t.rcvdTcAck, t.tcProp = false, false, false, false
	}
	if b.beginFor(p) {
		inactive()
		return true
	}
	rootOrDesig := t.role == RoleRoot || t.role == RoleDesignated
	switch t.tcm {
	case tcmInactive:
		if t.learn && !t.fdbFlush {
			learning()
		}
	case tcmLearning:
		switch {
		case !rootOrDesig && !(t.learn || t.learning) && !(t.rcvdTc || t.rcvdTcn || t.rcvdTcAck || t.tcProp):
			inactive()
		case t.rcvdTc || t.rcvdTcn || t.rcvdTcAck || t.tcProp:
			learning()
			return true
		case rootOrDesig && t.forward && !t.operEdge:
			// DETECTED
			b.newTcWhile(p)
			b.setTcPropTree(p)
			t.newInfo = true
			p.counters.TCDetected++
			b.noteTC()
			t.tcm = tcmActive
		}
	case tcmActive:
		switch {
		case !rootOrDesig || t.operEdge:
			learning()
		case t.rcvdTcn:
			// NOTIFIED_TCN, then NOTIFIED_TC
			b.newTcWhile(p)
			b.notifiedTC(p)
			return true
		case t.rcvdTc:
			b.notifiedTC(p)
			return true
		case t.tcProp && !t.operEdge:
			// PROPAGATING
			b.newTcWhile(p)
			t.fdbFlush = true
			t.tcProp = false
			return true
		case t.rcvdTcAck:
			// ACKNOWLEDGED
			t.tcWhile = 0
			t.rcvdTcAck = false
			return true
		}
	}
	return old != t.tcm
}

func (b *Bridge) notifiedTC(p *port) {
	t := &p.r
	t.rcvdTcn, t.rcvdTc = false, false
	if t.role == RoleDesignated {
		t.tcAck = true
	}
	b.setTcPropTree(p)
}
