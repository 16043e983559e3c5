package stp

import "time"

// IEEE 802.1D-1998 clause 8, the Spanning Tree Algorithm and Protocol, in
// the shape the Linux bridge runs it (net/bridge/br_stp*.c): the procedures
// of 8.6 called from the events of 8.7 (BPDU received, timers expired,
// ports enabled and disabled). Timers are deadlines on the caller's clock;
// the zero time means stopped.

type classicBridge struct {
	designatedRoot BridgeID
	rootCost       uint32
	rootPort       uint16 // 0: this bridge is the root
	// Times in force: the root's, learned on the root port.
	maxAge, hello, fwdDelay time.Duration
	tc, tcDetected          bool
	helloTimer, tcnTimer    time.Time
	tcTimer                 time.Time
}

type classicPort struct {
	dRoot, dBridge BridgeID
	dCost          uint32
	dPort          PortID
	tca            bool // topology change acknowledge to send
	configPending  bool
	msgAgeTimer    time.Time
	msgAgeBase     time.Time // when the received information had age 0
	fdTimer        time.Time
	holdTimer      time.Time
}

func (b *Bridge) isRoot() bool { return b.c.designatedRoot == b.id }

func (b *Bridge) isDesignated(p *port) bool {
	return p.c.dBridge == b.id && p.c.dPort == p.id
}

// classicInit is 8.8.1, Initialisation.
func (b *Bridge) classicInit() {
	c := &b.c
	*c = classicBridge{designatedRoot: b.id, maxAge: b.cfg.MaxAge, hello: b.cfg.HelloTime, fwdDelay: b.cfg.ForwardDelay}
	for _, no := range b.order {
		p := b.ports[no]
		b.classicInitPort(p)
		if !p.enabled() {
			p.state, p.role = Disabled, RoleDisabled
		}
	}
	b.classicPortStateSelection()
	b.classicConfigBPDUGeneration()
	c.helloTimer = b.now.Add(b.cfg.HelloTime)
}

// classicInitPort is 8.8.1's per-port part: designated, blocking, timers
// stopped.
func (b *Bridge) classicInitPort(p *port) {
	b.becomeDesignated(p)
	p.state, p.role = Blocking, RoleDesignated
	p.c.tca, p.c.configPending = false, false
	p.c.msgAgeTimer, p.c.fdTimer, p.c.holdTimer = time.Time{}, time.Time{}, time.Time{}
	p.operEdgeSt = p.cfg.Edge == EdgeOn
}

// classicEnablePort is 8.8.2.
func (b *Bridge) classicEnablePort(p *port) {
	b.classicInitPort(p)
	b.classicPortStateSelection()
}

// classicDisablePort is 8.8.3.
func (b *Bridge) classicDisablePort(p *port) {
	wasRoot := b.isRoot()
	b.becomeDesignated(p)
	p.state, p.role = Disabled, RoleDisabled
	p.c.tca, p.c.configPending = false, false
	p.c.msgAgeTimer, p.c.fdTimer = time.Time{}, time.Time{}
	b.classicConfigurationUpdate()
	b.classicPortStateSelection()
	if b.isRoot() && !wasRoot {
		b.becomeRootBridge()
	}
}

func (b *Bridge) becomeRootBridge() {
	c := &b.c
	c.maxAge, c.hello, c.fwdDelay = b.cfg.MaxAge, b.cfg.HelloTime, b.cfg.ForwardDelay
	b.classicTCDetection()
	c.tcnTimer = time.Time{}
	b.classicConfigBPDUGeneration()
	c.helloTimer = b.now.Add(b.cfg.HelloTime)
}

func (b *Bridge) classicReconfigure() {
	for _, no := range b.order {
		p := b.ports[no]
		if b.isDesignated(p) {
			p.c.dPort = p.id
		}
	}
	b.classicConfigurationUpdate()
	b.classicPortStateSelection()
}

// classicReceive handles a received Configuration or TCN BPDU (8.7.1,
// 8.7.2). An RST BPDU reaching an STP bridge is read as a Configuration
// BPDU, as 802.1D-2004 9.3.4 asks of a legacy bridge that can parse it.
func (b *Bridge) classicReceive(p *port, bpdu *BPDU) {
	if p.state == Disabled {
		return
	}
	p.operEdgeSt = false // a bridge is there: no longer an edge port
	if bpdu.Type == TypeTCN {
		if b.isDesignated(p) {
			b.classicTCDetection()
			p.c.tca = true // acknowledge
			b.classicTransmitConfig(p)
		}
		return
	}
	c := &b.c
	if b.supersedes(p, bpdu) {
		wasRoot := b.isRoot()
		// recordConfigInformation (8.6.2)
		p.c.dRoot, p.c.dCost, p.c.dBridge, p.c.dPort = bpdu.Root, bpdu.Cost, bpdu.Bridge, bpdu.Port
		p.c.msgAgeBase = b.now.Add(-bpdu.MessageAge)
		p.c.msgAgeTimer = b.now.Add(bpdu.MaxAge - bpdu.MessageAge)
		b.classicConfigurationUpdate()
		b.classicPortStateSelection()
		if !b.isRoot() && wasRoot {
			c.helloTimer = time.Time{}
			if c.tcDetected {
				c.tcTimer = time.Time{}
				b.classicTransmitTCN()
				c.tcnTimer = b.now.Add(b.cfg.HelloTime)
			}
		}
		if p.no == c.rootPort {
			// recordConfigTimeoutValues (8.6.3)
			c.maxAge, c.hello, c.fwdDelay = bpdu.MaxAge, bpdu.HelloTime, bpdu.ForwardDelay
			b.setTC(bpdu.Flags&FlagTC != 0)
			b.classicConfigBPDUGeneration()
			if bpdu.Flags&FlagTCAck != 0 {
				c.tcDetected = false
				c.tcnTimer = time.Time{}
			}
		}
	} else if b.isDesignated(p) {
		// reply (8.6.4): an inferior bridge on our segment learns better.
		b.classicTransmitConfig(p)
	}
}

func (b *Bridge) setTC(on bool) {
	if on && !b.c.tc {
		b.noteTC()
	}
	b.c.tc = on
	b.setAging(on)
}

// supersedes is 8.6.2.2: the BPDU's information is better than the port's,
// or it comes from the port's designated bridge and port.
func (b *Bridge) supersedes(p *port, bpdu *BPDU) bool {
	switch {
	case bpdu.Root != p.c.dRoot:
		return bpdu.Root < p.c.dRoot
	case bpdu.Cost != p.c.dCost:
		return bpdu.Cost < p.c.dCost
	case bpdu.Bridge != p.c.dBridge:
		return bpdu.Bridge < p.c.dBridge
	case bpdu.Bridge != b.id:
		return true
	}
	return bpdu.Port <= p.c.dPort
}

func (b *Bridge) becomeDesignated(p *port) {
	p.c.dRoot, p.c.dCost, p.c.dBridge, p.c.dPort = b.c.designatedRoot, b.c.rootCost, b.id, p.id
}

// classicConfigurationUpdate is 8.6.7: root selection, then designated
// port selection.
func (b *Bridge) classicConfigurationUpdate() {
	b.classicRootSelection()
	for _, no := range b.order {
		p := b.ports[no]
		if p.state != Disabled && !p.rootGuard && b.shouldBecomeDesignated(p) {
			b.becomeDesignated(p)
		}
	}
}

// classicRootSelection is 8.6.8. A root-guard port whose information would
// win is not taken; it is held discarding until that information ages out.
func (b *Bridge) classicRootSelection() {
	c := &b.c
	var root *port
	better := func(p, q *port) bool { // p's path better than q's
		switch {
		case p.c.dRoot != q.c.dRoot:
			return p.c.dRoot < q.c.dRoot
		case p.c.dCost+p.cost != q.c.dCost+q.cost:
			return p.c.dCost+p.cost < q.c.dCost+q.cost
		case p.c.dBridge != q.c.dBridge:
			return p.c.dBridge < q.c.dBridge
		case p.c.dPort != q.c.dPort:
			return p.c.dPort < q.c.dPort
		}
		return p.id < q.id
	}
	for _, no := range b.order {
		p := b.ports[no]
		held := false
		if p.state != Disabled && !b.isDesignated(p) && p.c.dRoot < b.id {
			if p.cfg.RootGuard {
				held = true
			} else if root == nil || better(p, root) {
				root = p
			}
		}
		if held && !p.rootGuard {
			p.counters.RootGuard++
		}
		p.rootGuard = held
	}
	if root == nil {
		c.rootPort, c.designatedRoot, c.rootCost = 0, b.id, 0
		return
	}
	// A root-guard port with a better root than the one chosen is held;
	// one whose information is no better is an ordinary blocked port.
	for _, no := range b.order {
		if p := b.ports[no]; p.rootGuard && !better(p, root) {
			p.rootGuard = false
		}
	}
	c.rootPort, c.designatedRoot, c.rootCost = root.no, root.c.dRoot, root.c.dCost+root.cost
}

// shouldBecomeDesignated is 8.6.9's test.
func (b *Bridge) shouldBecomeDesignated(p *port) bool {
	c := &b.c
	switch {
	case b.isDesignated(p):
		return true
	case p.c.dRoot != c.designatedRoot:
		return true
	case c.rootCost != p.c.dCost:
		return c.rootCost < p.c.dCost
	case b.id != p.c.dBridge:
		return b.id < p.c.dBridge
	}
	return p.id < p.c.dPort
}

// classicPortStateSelection is 8.6.11.
func (b *Bridge) classicPortStateSelection() {
	for _, no := range b.order {
		p := b.ports[no]
		if p.state == Disabled {
			p.role = RoleDisabled
			continue
		}
		switch {
		case p.no == b.c.rootPort:
			p.role = RoleRoot
			p.c.configPending, p.c.tca = false, false
			b.makeForwarding(p)
		case b.isDesignated(p) && !p.rootGuard:
			p.role = RoleDesignated
			p.c.msgAgeTimer = time.Time{}
			b.makeForwarding(p)
		default:
			p.role = RoleAlternate
			if p.c.dBridge == b.id {
				p.role = RoleBackup
			}
			p.c.configPending, p.c.tca = false, false
			b.makeBlocking(p)
		}
	}
}

// makeForwarding (8.6.12): blocking → listening with the forward delay
// timer; an edge port goes straight to forwarding.
func (b *Bridge) makeForwarding(p *port) {
	if p.state != Blocking {
		return
	}
	if p.operEdgeSt {
		p.state = Forwarding
		return
	}
	p.state = Listening
	p.c.fdTimer = b.now.Add(b.c.fwdDelay)
}

// makeBlocking (8.6.13): a port that was learning or forwarding causes a
// topology change (unless it is an edge port).
func (b *Bridge) makeBlocking(p *port) {
	if p.state == Disabled || p.state == Blocking {
		return
	}
	if (p.state == Forwarding || p.state == Learning) && !p.operEdgeSt {
		p.counters.TCDetected++
		b.classicTCDetection()
	}
	p.state = Blocking
	p.c.fdTimer = time.Time{}
}

// classicTCDetection is 8.6.14.
func (b *Bridge) classicTCDetection() {
	c := &b.c
	if b.isRoot() {
		b.setTC(true)
		c.tcTimer = b.now.Add(b.cfg.MaxAge + b.cfg.ForwardDelay)
	} else if !c.tcDetected {
		b.noteTC()
		b.classicTransmitTCN()
		c.tcnTimer = b.now.Add(b.cfg.HelloTime)
	}
	c.tcDetected = true
}

// classicConfigBPDUGeneration is 8.6.4: a Configuration BPDU on every
// designated port.
func (b *Bridge) classicConfigBPDUGeneration() {
	for _, no := range b.order {
		p := b.ports[no]
		if p.state != Disabled && b.isDesignated(p) && !p.rootGuard {
			b.classicTransmitConfig(p)
		}
	}
}

// classicTransmitConfig is 8.6.1, with the hold timer (at most one BPDU a
// second on a port; one that must wait is sent when the timer expires).
func (b *Bridge) classicTransmitConfig(p *port) {
	c := &b.c
	if !p.c.holdTimer.IsZero() {
		p.c.configPending = true
		return
	}
	bpdu := BPDU{Version: VersionSTP, Type: TypeConfig, Root: c.designatedRoot, Cost: c.rootCost, Bridge: b.id, Port: p.id,
		MaxAge: c.maxAge, HelloTime: c.hello, ForwardDelay: c.fwdDelay}
	if !b.isRoot() {
		if rp := b.ports[c.rootPort]; rp != nil {
			bpdu.MessageAge = b.now.Sub(rp.c.msgAgeBase) + MessageAgeIncrement
		}
	}
	if c.tc {
		bpdu.Flags |= FlagTC
	}
	if p.c.tca {
		bpdu.Flags |= FlagTCAck
	}
	if bpdu.MessageAge < bpdu.MaxAge {
		b.send(p, &bpdu)
		p.c.tca, p.c.configPending = false, false
		p.c.holdTimer = b.now.Add(HoldTime)
	}
}

// classicTransmitTCN is 8.6.6: a TCN BPDU on the root port.
func (b *Bridge) classicTransmitTCN() {
	if rp := b.ports[b.c.rootPort]; rp != nil && rp.state != Disabled {
		b.send(rp, &BPDU{Version: VersionSTP, Type: TypeTCN})
	}
}

// classicTimers runs every timer that expired by b.now, earliest first.
func (b *Bridge) classicTimers() {
	c := &b.c
	for i := 0; i < 10000; i++ {
		// Find the earliest expired timer.
		var at time.Time
		var fire func()
		consider := func(t time.Time, f func()) {
			if !t.IsZero() && !t.After(b.now) && (at.IsZero() || t.Before(at)) {
				at, fire = t, f
			}
		}
		consider(c.helloTimer, func() {
			c.helloTimer = time.Time{}
			if b.isRoot() {
				b.classicConfigBPDUGeneration()
				c.helloTimer = at.Add(b.cfg.HelloTime)
			}
		})
		consider(c.tcnTimer, func() {
			c.tcnTimer = at.Add(b.cfg.HelloTime)
			b.classicTransmitTCN()
		})
		consider(c.tcTimer, func() {
			c.tcTimer = time.Time{}
			c.tcDetected = false
			b.setTC(false)
		})
		for _, no := range b.order {
			p := b.ports[no]
			consider(p.c.msgAgeTimer, func() { b.msgAgeExpired(p) })
			consider(p.c.fdTimer, func() { b.fdExpired(p, at) })
			consider(p.c.holdTimer, func() {
				p.c.holdTimer = time.Time{}
				if p.c.configPending {
					b.classicTransmitConfig(p)
				}
			})
		}
		if fire == nil {
			return
		}
		fire()
	}
}

// msgAgeExpired is 8.7.5: the port's designated bridge went silent.
func (b *Bridge) msgAgeExpired(p *port) {
	p.c.msgAgeTimer = time.Time{}
	wasRoot := b.isRoot()
	b.becomeDesignated(p)
	b.classicConfigurationUpdate()
	b.classicPortStateSelection()
	if b.isRoot() && !wasRoot {
		b.becomeRootBridge()
	}
}

// fdExpired is 8.7.4: listening → learning → forwarding.
func (b *Bridge) fdExpired(p *port, at time.Time) {
	p.c.fdTimer = time.Time{}
	switch p.state {
	case Listening:
		p.state = Learning
		p.c.fdTimer = at.Add(b.c.fwdDelay)
	case Learning:
		p.state = Forwarding
		if b.designatedForSomePort() && !p.operEdgeSt {
			p.counters.TCDetected++
			b.classicTCDetection()
		}
	}
}

func (b *Bridge) designatedForSomePort() bool {
	for _, no := range b.order {
		p := b.ports[no]
		if p.state != Disabled && b.isDesignated(p) {
			return true
		}
	}
	return false
}
