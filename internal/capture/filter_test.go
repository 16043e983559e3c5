package capture

import (
	"bytes"
	"encoding/binary"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

var (
	macA  = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	macB  = net.HardwareAddr{2, 0, 0, 0, 0, 2}
	bcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

func ser(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	for _, l := range ls {
		if n, ok := l.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			for _, nl := range ls {
				if x, ok := nl.(gopacket.NetworkLayer); ok {
					_ = n.SetNetworkLayerForChecksum(x)
				}
			}
		}
	}
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func eth(src, dst net.HardwareAddr, typ layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: typ}
}

func ip4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4(), Flags: layers.IPv4DontFragment}
}

func ip6(src, dst string, nh layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: nh, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
}

func tcp(sp, dp uint16, flags string) *layers.TCP {
	t := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Seq: 1000, Window: 65535}
	t.SYN = strings.Contains(flags, "S")
	t.ACK = strings.Contains(flags, "A")
	t.FIN = strings.Contains(flags, "F")
	t.RST = strings.Contains(flags, "R")
	t.PSH = strings.Contains(flags, "P")
	return t
}

func udp(sp, dp uint16) *layers.UDP {
	return &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
}

func payload(n int) gopacket.Payload { return bytes.Repeat([]byte{0xab}, n) }

// corpus is a varied set of Ethernet frames: every protocol the filter
// knows, VLAN tags, fragments, truncated and odd frames.
func corpus(t testing.TB) [][]byte {
	var fs [][]byte
	add := func(b []byte) { fs = append(fs, b) }
	add(ser(t, eth(macA, macB, layers.EthernetTypeIPv4), ip4("198.18.0.1", "198.18.0.2", layers.IPProtocolTCP), tcp(40000, 80, "S")))
	add(ser(t, eth(macB, macA, layers.EthernetTypeIPv4), ip4("198.18.0.2", "198.18.0.1", layers.IPProtocolTCP), tcp(80, 40000, "SA")))
	add(ser(t, eth(macA, macB, layers.EthernetTypeIPv4), ip4("198.18.0.1", "198.18.0.2", layers.IPProtocolTCP), tcp(40000, 80, "PA"), gopacket.Payload("GET / HTTP/1.1\r\n")))
	add(ser(t, eth(macA, macB, layers.EthernetTypeIPv4), ip4("198.18.0.1", "198.18.0.2", layers.IPProtocolTCP), tcp(40000, 443, "R")))
	add(ser(t, eth(macA, macB, layers.EthernetTypeIPv4), ip4("198.18.0.1", "198.18.0.2", layers.IPProtocolTCP), tcp(40001, 443, "FA")))
	add(ser(t, eth(macA, macB, layers.EthernetTypeIPv4), ip4("203.0.113.1", "203.0.113.2", layers.IPProtocolUDP), udp(5353, 53), payload(30)))
	add(ser(t, eth(macB, macA, layers.EthernetTypeIPv4), ip4("203.0.113.2", "203.0.113.1", layers.IPProtocolUDP), udp(53, 5353), payload(90)))
	add(ser(t, eth(macA, macB, layers.EthernetTypeIPv4), ip4("203.0.113.1", "203.0.113.2", layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1}, payload(56)))
	add(ser(t, eth(macB, macA, layers.EthernetTypeIPv4), ip4("203.0.113.2", "203.0.113.1", layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(0, 0), Id: 1, Seq: 1}, payload(56)))
	add(ser(t, eth(macA, macB, layers.EthernetTypeIPv4), ip4("203.0.113.2", "198.18.0.9", layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 4)}, payload(28)))
	inner := ser(t, eth(macA, macB, layers.EthernetTypeIPv4), ip4("192.0.2.1", "192.0.2.2", layers.IPProtocolTCP), tcp(1234, 80, "S"))
	add(ser(t, eth(macA, macB, layers.EthernetTypeIPv4), ip4("198.18.0.1", "198.18.0.2", layers.IPProtocolUDP), udp(49200, 4789),
		&layers.VXLAN{ValidIDFlag: true, VNI: 5001}, gopacket.Payload(inner)))
	add(ser(t, eth(macA, macB, layers.EthernetTypeIPv6), ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolTCP), tcp(50000, 443, "S")))
	add(ser(t, eth(macB, macA, layers.EthernetTypeIPv6), ip6("2001:db8::2", "2001:db8::1", layers.IPProtocolUDP), udp(53, 50001), payload(40)))
	add(ser(t, eth(macA, macB, layers.EthernetTypeIPv6), ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolICMPv6),
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}, &layers.ICMPv6Echo{Identifier: 7, SeqNumber: 1}, payload(16)))
	add(ser(t, eth(macA, net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 2}, layers.EthernetTypeIPv6), ip6("2001:db8::1", "ff02::1:ff00:2", layers.IPProtocolICMPv6),
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(135, 0)}, payload(24)))
	// IPv6 with a fragment header carrying TCP.
	fr := ser(t, eth(macA, macB, layers.EthernetTypeIPv6), ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolIPv6Fragment),
		&layers.IPv6Fragment{NextHeader: layers.IPProtocolTCP, Identification: 9}, tcp(50002, 80, "S"))
	add(fr)
	// An IPv4 fragment with an offset: its "ports" are payload bytes.
	f4 := ser(t, eth(macA, macB, layers.EthernetTypeIPv4), &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: net.ParseIP("198.18.0.1").To4(), DstIP: net.ParseIP("198.18.0.2").To4(), FragOffset: 185}, gopacket.Payload([]byte{0, 80, 0, 80, 1, 2, 3, 4, 5, 6, 7, 8, 0x50, 0x02}))
	add(f4)
	// An IPv4 header with options (IHL 6).
	o := ser(t, eth(macA, macB, layers.EthernetTypeIPv4), &layers.IPv4{Version: 4, TTL: 32, Protocol: layers.IPProtocolUDP,
		SrcIP: net.ParseIP("198.19.1.1").To4(), DstIP: net.ParseIP("198.19.1.2").To4(), Options: []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}}, udp(7000, 4789), payload(20))
	add(o)
	arpReq := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
		SourceHwAddress: macA, SourceProtAddress: net.ParseIP("203.0.113.1").To4(), DstHwAddress: make(net.HardwareAddr, 6), DstProtAddress: net.ParseIP("203.0.113.2").To4()}
	add(ser(t, eth(macA, bcast, layers.EthernetTypeARP), arpReq))
	arpRep := *arpReq
	arpRep.Operation = 2
	arpRep.SourceHwAddress, arpRep.SourceProtAddress, arpRep.DstHwAddress, arpRep.DstProtAddress = macB, net.ParseIP("203.0.113.2").To4(), macA, net.ParseIP("203.0.113.1").To4()
	add(ser(t, eth(macB, macA, layers.EthernetTypeARP), &arpRep))
	rarp := ser(t, eth(macA, bcast, layers.EthernetTypeARP), arpReq)
	binary.BigEndian.PutUint16(rarp[12:], 0x8035)
	add(rarp)
	// Tagged: VLAN 10 TCP 80, VLAN 20 UDP 53, 802.1ad 100 over 802.1Q 10.
	add(ser(t, eth(macA, macB, layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv4},
		ip4("198.18.0.1", "198.18.0.2", layers.IPProtocolTCP), tcp(40005, 80, "S")))
	add(ser(t, eth(macB, macA, layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 20, Priority: 5, Type: layers.EthernetTypeIPv4},
		ip4("203.0.113.2", "203.0.113.1", layers.IPProtocolUDP), udp(53, 5353), payload(10)))
	add(ser(t, eth(macA, macB, layers.EthernetTypeQinQ), &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv4}, ip4("198.18.0.1", "198.18.0.2", layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}, payload(8)))
	add(ser(t, eth(macA, macB, layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv6},
		ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolUDP), udp(5000, 53), payload(10)))
	add(ser(t, eth(macA, bcast, layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 30, Type: layers.EthernetTypeARP}, arpReq))
	// Truncated: an IPv4 header without its TCP header; an Ethernet header
	// with a few bytes; a runt.
	tr := ser(t, eth(macA, macB, layers.EthernetTypeIPv4), ip4("198.18.0.1", "198.18.0.2", layers.IPProtocolTCP), tcp(1, 2, "S"))
	add(tr[:14+20+2])
	add(tr[:14+10])
	add(tr[:10])
	// IGMP, multicast UDP, broadcast DHCP, SCTP, LLDP, 802.3/LLC.
	add(ser(t, eth(macA, net.HardwareAddr{1, 0, 0x5e, 0, 0, 0x16}, layers.EthernetTypeIPv4), ip4("198.18.0.1", "224.0.0.22", layers.IPProtocolIGMP), payload(8)))
	add(ser(t, eth(macA, net.HardwareAddr{1, 0, 0x5e, 1, 1, 100}, layers.EthernetTypeIPv4), ip4("198.18.0.1", "239.1.1.100", layers.IPProtocolUDP), udp(49300, 4789), payload(50)))
	add(ser(t, eth(macA, bcast, layers.EthernetTypeIPv4), ip4("0.0.0.0", "255.255.255.255", layers.IPProtocolUDP), udp(68, 67), payload(240)))
	sctp := ser(t, eth(macA, macB, layers.EthernetTypeIPv4), ip4("198.18.0.1", "198.18.0.2", layers.IPProtocolSCTP), payload(12))
	binary.BigEndian.PutUint16(sctp[34:], 3000)
	binary.BigEndian.PutUint16(sctp[36:], 80)
	add(sctp)
	lldp := make([]byte, 60)
	copy(lldp, []byte{0x01, 0x80, 0xc2, 0, 0, 0x0e})
	copy(lldp[6:], macA)
	binary.BigEndian.PutUint16(lldp[12:], 0x88cc)
	add(lldp)
	llc := make([]byte, 60)
	copy(llc, []byte{0x01, 0x80, 0xc2, 0, 0, 0})
	copy(llc[6:], macB)
	binary.BigEndian.PutUint16(llc[12:], 38)
	copy(llc[14:], []byte{0x42, 0x42, 0x03})
	add(llc)
	// A large frame, and an IPv6 TCP with payload.
	add(ser(t, eth(macB, macA, layers.EthernetTypeIPv4), ip4("198.18.0.2", "198.18.0.1", layers.IPProtocolTCP), tcp(80, 40000, "A"), payload(1460)))
	add(ser(t, eth(macB, macA, layers.EthernetTypeIPv6), ip6("2001:db8:1::5", "2001:db8::1", layers.IPProtocolTCP), tcp(443, 50000, "PA"), payload(500)))
	add(ser(t, eth(macA, macB, layers.EthernetTypeIPv4), ip4("192.0.2.7", "198.51.100.9", layers.IPProtocolUDP), udp(1024, 1024), payload(4)))
	// Random junk of random lengths (fixed seed).
	r := rand.New(rand.NewSource(15))
	for i := 0; i < 40; i++ {
		b := make([]byte, 14+r.Intn(120))
		r.Read(b)
		if i%3 == 0 {
			binary.BigEndian.PutUint16(b[12:], []uint16{0x0800, 0x86dd, 0x8100, 0x0806}[r.Intn(4)])
		}
		add(b)
	}
	return fs
}

// filterExprs are expressions tcpdump accepts; the test checks each
// frame's verdict against tcpdump's.
var filterExprs = []string{
	"", "ip", "ip6", "arp", "rarp", "tcp", "udp", "icmp", "icmp6", "igmp", "sctp",
	"vlan", "vlan 10", "vlan 20", "vlan and ip", "vlan 10 and tcp port 80", "vlan and vlan", "vlan and vlan 10 and icmp", "not vlan",
	"vlan and host 198.18.0.1", "host 198.18.0.1 or vlan and host 198.18.0.1", "vlan and arp", "vlan 10 and ip6",
	"host 198.18.0.1", "src host 198.18.0.1", "dst host 198.18.0.2", "host 203.0.113.2", "arp host 203.0.113.2", "ip host 203.0.113.2",
	"rarp host 203.0.113.1", "arp src host 203.0.113.1", "arp dst host 203.0.113.1",
	"host 2001:db8::1", "ip6 src host 2001:db8::1", "dst host 2001:db8::2", "host ff02::1:ff00:2",
	"ether host 02:00:00:00:00:01", "ether src 02:00:00:00:00:01", "ether dst ff:ff:ff:ff:ff:ff", "ether src host 02:00:00:00:00:02",
	"ether broadcast", "broadcast", "multicast", "ether multicast", "ip multicast", "ip6 multicast",
	"net 198.18.0.0/15", "net 198.18", "net 198.18/16", "src net 203.0.113.0/24", "net 198.18.0.0 mask 255.254.0.0", "net 2001:db8::/32",
	"dst net 2001:db8::2/128", "net 2001:db8:1::/48", "ip net 192.0.2.0/24", "arp net 203.0.113.0/24",
	"port 80", "tcp port 80", "udp port 53", "port 53", "src port 80", "dst port 80", "tcp dst port 80 or 443", "portrange 1-1024",
	"udp portrange 4000-5000", "port http", "port domain", "sctp port 80", "ip6 and port 443", "port 4789", "udp dst port 4789",
	"tcp src portrange 40000-40003", "src and dst port 1024", "src or dst port 53",
	"less 64", "greater 1000", "len > 100", "len <= 60", "less 60 and ip",
	"ip proto 17", `ip proto \udp`, "ip6 proto 58", `proto \tcp`, "ether proto 0x88cc", `ether proto \arp`, `ip6 proto \tcp`, "proto 17",
	"ip6 proto 44",
	"tcp[tcpflags] & tcp-syn != 0", "tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)", "tcp[13] = 2", "icmp[icmptype] = icmp-echo",
	"icmp[icmptype] != icmp-echo and icmp[icmptype] != icmp-echoreply", "ip[8] = 64", "ip[2:2] > 100", "ip[0] & 0xf > 5",
	"udp[2:2] = 4789", "ether[12:2] = 0x8100", "ip6[6] = 44", "icmp6[0] = 128", "icmp6[icmp6type] = icmp6-neighborsolicit", "arp[7] = 1",
	"tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420", "ip[6:2] & 0x1fff != 0", "len - 14 > 100", "ip[9] * 2 = 12", "ip[2:2] / 2 > 30",
	"ether[0] & 1 = 1", "udp[8:4] = 0x08000000", "udp[8] & 0x08 != 0 and udp[12:4] >> 8 = 5001", "ip[1] = 0", "tcp[100] = 0",
	"not tcp[100] = 0", "tcp[0:2] + 1 > 80", "ip[16] >= 224", "ip[12:4] - ip[16:4] = 4294967295", "ip[2:2] % 7 = 0", "ip[1] | 1 = 1",
	"ether[6:4] ^ 0x02000000 = 0", "ip[0] << 2 = 0x114", "-ip[8] = 4294967232", "(ip[8] = 64)", "(tcp[13] & 2) != 0",
	"host 198.18.0.1 and port 80", "host 198.18.0.1 or host 203.0.113.1", "host 198.18.0.1 or 203.0.113.1", "not host 198.18.0.1",
	"not (tcp or udp)", "tcp or udp and not port 53", "(tcp or udp) and not port 53", "! arp && ! ip6", "host 198.18.0.1 and not 198.18.0.2",
	"tcp and (port 80 or 443)", "udp and not ip6", "src host 198.18.0.1 and dst host 198.18.0.2", "src or dst host 198.18.0.1",
	"src and dst net 198.18.0.0/16", "ip and not ip[6:2] & 0x1fff != 0", "tcp port 80 or 443 or 53", "not tcp and not udp",
	"port 80 and (host 198.18.0.1 or host 198.18.0.2) and not vlan", "icmp or arp or vlan 30", "(host 203.0.113.1)", "not not ip",
	"ip and (tcp[13] & 2 != 0 or udp)", "ether src 02:00:00:00:00:01 and not ether dst ff:ff:ff:ff:ff:ff",
}

func runTcpdump(t *testing.T, pcap, expr string) map[int]bool {
	t.Helper()
	args := []string{"-nn", "-tt", "-r", pcap}
	if expr != "" {
		args = append(args, "--", expr)
	}
	out, err := exec.Command("tcpdump", args...).Output()
	if err != nil {
		var ee *exec.ExitError
		msg := ""
		if errorsAs(err, &ee) {
			msg = string(ee.Stderr)
		}
		t.Fatalf("tcpdump %q: %v %s", expr, err, msg)
	}
	m := map[int]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		sec, _, ok := strings.Cut(f[0], ".")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(sec)
		if err != nil || n < 1000 {
			continue
		}
		m[n-1000] = true
	}
	return m
}

func errorsAs(err error, ee **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*ee = e
	}
	return ok
}

func needTcpdump(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		if os.Geteuid() == 0 {
			t.Fatal("tcpdump is missing (CI installs it: .ci/packages/observe.txt)")
		}
		t.Skip("needs tcpdump")
	}
}

// TestFilterMatchesTcpdump compiles every expression with our compiler
// and with libpcap (tcpdump -r) and checks both pick the same frames of a
// varied corpus.
func TestFilterMatchesTcpdump(t *testing.T) {
	needTcpdump(t)
	fs := corpus(t)
	pcap := filepath.Join(t.TempDir(), "corpus.pcap")
	f, err := os.Create(pcap)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, fr := range fs {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(int64(1000+i), 0), CaptureLength: len(fr), Length: len(fr)}
		if err := w.WritePacket(ci, fr); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	for _, expr := range filterExprs {
		flt, err := CompileFilter(expr)
		if err != nil {
			t.Errorf("%q: %v", expr, err)
			continue
		}
		want := runTcpdump(t, pcap, expr)
		matched := 0
		for i, fr := range fs {
			got := flt.Match(fr, len(fr), In)
			if got != want[i] {
				t.Errorf("%q on frame %d (%d bytes, % x…): we say %v, tcpdump says %v", expr, i, len(fr), fr[:min(len(fr), 24)], got, want[i])
			}
			if got {
				matched++
			}
		}
		if testing.Verbose() {
			t.Logf("%-60q %d/%d frames", expr, matched, len(fs))
		}
	}
}

func TestFilterErrorsNameThePosition(t *testing.T) {
	for expr, want := range map[string]string{
		"host example.com":       "host names are not resolved",
		"tcp port 99999":         "not a port",
		"ip[0:3] = 1":            "load size",
		"host 198.18.0.1 and":    "ends too early",
		"(tcp":                   "missing )",
		"tcp[1] = 1 / 0":         "division by zero",
		"ether host 1.2.3.4":     "not a MAC",
		"gateway 198.18.0.1":     "gateway",
		"ip broadcast":           "netmask",
		"tcp host 198.18.0.1":    "tcp host",
		"net 198.18.0.1/15":      "non-network bits",
		"vlan 5000":              "VLAN ID",
		"ether proto 100":        "LLC",
		"foo & bar":              "host names",
		"host 02:00:00:00:00:02": "use ether host",
		"port 80 $":              "unexpected character",
		"ip6 host 198.18.0.1":    "IPv4",
		"ip host 2001:db8::1":    "IPv6",
		"tcp[13] & 2":            "unexpected",
		"portrange 80":           "port range",
		"ip proto 300":           "IP protocol",
		"udp[tcp-syn:5] = 1":     "load size",
		"less":                   "number",
		"ether":                  "ether needs",
		"net 2001:db8::1/32":     "non-network bits",
		"src or dst portrange":   "missing",
	} {
		_, err := CompileFilter(expr)
		if err == nil {
			t.Errorf("%q compiled", expr)
			continue
		}
		fe, ok := err.(*FilterError)
		if !ok || !strings.Contains(err.Error(), want) || fe.Pos == 0 && !strings.Contains(err.Error(), "in ") {
			t.Errorf("%q: %v, want a FilterError mentioning %q", expr, err, want)
		}
	}
}

func TestInboundOutbound(t *testing.T) {
	f, err := CompileFilter("(inbound and icmp) or (outbound and arp)")
	if err != nil {
		t.Fatal(err)
	}
	fs := corpus(t)
	icmp, arp := fs[7], fs[18]
	if !f.Match(icmp, len(icmp), In) || f.Match(icmp, len(icmp), Out) || !f.Match(arp, len(arp), Out) || f.Match(arp, len(arp), In) {
		t.Fatal("inbound/outbound do not select by direction")
	}
}

func TestMatchAllocatesNothing(t *testing.T) {
	f, err := CompileFilter("vlan 10 and tcp[tcpflags] & tcp-syn != 0 or host 2001:db8::1 and port 443 or not arp")
	if err != nil {
		t.Fatal(err)
	}
	fs := corpus(t)
	if n := testing.AllocsPerRun(200, func() {
		for _, fr := range fs {
			f.Match(fr, len(fr), In)
		}
	}); n != 0 {
		t.Fatalf("Match allocates %v per corpus", n)
	}
}

func FuzzCompileFilter(f *testing.F) {
	for _, e := range filterExprs {
		f.Add(e, []byte{})
	}
	fs := corpus(f)
	for i, fr := range fs {
		if i%5 == 0 {
			f.Add("tcp port 80 or vlan and udp", fr)
		}
	}
	f.Fuzz(func(t *testing.T, expr string, frame []byte) {
		flt, err := CompileFilter(expr)
		if err != nil {
			if _, ok := err.(*FilterError); !ok {
				t.Fatalf("%q: error of type %T: %v", expr, err, err)
			}
			return
		}
		flt.Match(frame, len(frame), In)
	})
}

func BenchmarkFilterMatch(b *testing.B) {
	f, _ := CompileFilter("tcp port 80 and host 198.18.0.1")
	fr := corpus(b)[0]
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		f.Match(fr, len(fr), In)
	}
}
