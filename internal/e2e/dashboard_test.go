package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/testnet"
)

// webDriver is a minimal W3C WebDriver client (chromedriver).
type webDriver struct {
	t       *testing.T
	hc      *http.Client
	base    string
	session string
}

func (w *webDriver) call(method, path string, in any) json.RawMessage {
	w.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, w.base+path, body)
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.hc.Do(req)
	if err != nil {
		w.t.Fatalf("webdriver %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || resp.StatusCode >= 300 {
		w.t.Fatalf("webdriver %s %s: %s: %s", method, path, resp.Status, raw)
	}
	return r.Value
}

// js runs script in the page and decodes its result into out.
func (w *webDriver) js(out any, script string, args ...any) {
	w.t.Helper()
	if args == nil {
		args = []any{}
	}
	v := w.call("POST", "/session/"+w.session+"/execute/sync", map[string]any{"script": script, "args": args})
	if out != nil {
		if err := json.Unmarshal(v, out); err != nil {
			w.t.Fatalf("script result %s: %v", v, err)
		}
	}
}

// until polls a script until it returns true.
func (w *webDriver) until(what string, timeout time.Duration, script string, args ...any) {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		w.js(&ok, script, args...)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var html string
			w.js(&html, "return document.querySelector('main').innerText.slice(0, 3000)")
			w.t.Fatalf("%s: not true after %v; page text:\n%s", what, timeout, html)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (w *webDriver) screenshot(path string) {
	w.t.Helper()
	var b64 string
	if err := json.Unmarshal(w.call("GET", "/session/"+w.session+"/screenshot", nil), &b64); err != nil {
		w.t.Fatal(err)
	}
	png, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// artifactDir is where tests keep what a person should look at: set
// SWITCHYARD_ARTIFACTS, or a directory under the system's temp dir (kept
// after the test).
func artifactDir(t *testing.T) string {
	d := os.Getenv("SWITCHYARD_ARTIFACTS")
	if d == "" {
		d = filepath.Join(os.TempDir(), fmt.Sprintf("switchyard-artifacts-%d", os.Getpid()))
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDashboardInChromium builds a lab — a host with two bridges (VMs on
// TAPs and a veth, an internal port, a patch link to a second bridge with
// its own VM) and a VXLAN tunnel to a second host with a VM — runs the
// daemon with --web on its namespace's loopback, and loads the dashboard
// in headless Chromium through chromedriver: the topology shows the
// bridges, VMs, patch link and remote VTEP; the ports table lists every
// port and its counters grow with traffic (over server-sent events); drops
// by reason are highlighted; the FDB search, the trace form and its tree
// and the event stream work. Screenshots are kept as artifacts.
func TestDashboardInChromium(t *testing.T) {
	testnet.RequireRoot(t)
	for _, bin := range []string{"chromium", "chromedriver"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is missing (Debian's chromium and chromium-driver; .ci/packages/observe.txt)", bin)
		}
	}
	a, b := underlayPair(t)
	da := testnet.StartDaemon(t, a, "--web", "127.0.0.1:8080")
	db := testnet.StartDaemon(t, b)
	for i, d := range []*testnet.Daemon{da, db} {
		d.MustCLI("bridge", "add", "br-int")
		d.MustCLI("port", "add", "br-int", "vx0", "--type", "vxlan", "--local", fmt.Sprintf("198.18.0.%d", i+1),
			"--remote", fmt.Sprintf("198.18.0.%d", 2-i), "--vni-map", "10:5010")
	}
	da.MustCLI("bridge", "add", "br-ext")
	// Port names are readable (they live in the hosts' and VMs' own
	// namespaces, which are unique); the screenshot goes into the README.
	v1 := namedTapVM(t, da, "br-int", "web1", "203.0.113.1", "--vlan", "10")
	v2 := namedTapVM(t, da, "br-int", "web2", "203.0.113.2", "--vlan", "10")
	v3 := namedVethVM(t, da, "br-int", "db1", "203.0.113.3", "--vlan", "10")
	in0 := "host0"
	da.MustCLI("port", "add", "br-int", in0, "--type", "internal", "--vlan", "10")
	testnet.Addr(t, a, in0, "203.0.113.254/24")
	da.MustCLI("port", "add", "br-int", "patch-int", "--type", "patch", "--peer", "patch-ext", "--vlan", "10")
	da.MustCLI("port", "add", "br-ext", "patch-ext", "--type", "patch", "--peer", "patch-int")
	v4 := namedTapVM(t, da, "br-ext", "ext1", "203.0.113.4")
	r1 := namedTapVM(t, db, "br-int", "app1", "203.0.113.11", "--vlan", "10")
	for _, to := range []vm{v2, v3, v4, r1} {
		reach(t, v1, to)
	}
	// Traffic for the charts: pings in the background, and frames too big
	// for the tunnel (dropped as mtu-exceeded).
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = testnet.NS(v2.ns, "ping", "-c", "10", "-i", "0.1", "-W", "1", "-q", []string{r1.ip, v3.ip, v4.ip}[i%3])
		}
	}()
	var clog bytes.Buffer
	startInNS(t, a, &clog, "chromedriver", "--port=9515")
	defer func() {
		if t.Failed() {
			t.Logf("chromedriver:\n%s", clog.String())
		}
	}()
	wd := &webDriver{t: t, hc: nsClient(a), base: "http://127.0.0.1:9515"}
	testnet.Eventually(t, 20*time.Second, "chromedriver answers", func() error {
		resp, err := wd.hc.Get(wd.base + "/status")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	profile := t.TempDir()
	v := wd.call("POST", "/session", map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{"binary": "/usr/bin/chromium", "args": []string{
			"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1440,1120",
			"--hide-scrollbars", "--user-data-dir=" + profile, "--no-first-run"}}}}})
	var sess struct {
		SessionID string `json:"sessionId"`
	}
	if err := json.Unmarshal(v, &sess); err != nil || sess.SessionID == "" {
		t.Fatalf("new session: %s", v)
	}
	wd.session = sess.SessionID
	defer wd.call("DELETE", "/session/"+wd.session, nil)
	wd.call("POST", "/session/"+wd.session+"/url", map[string]any{"url": "http://127.0.0.1:8080/"})
	wd.until("the page is ready and live", 30*time.Second, `return document.body.dataset.ready === "1" && Number(document.body.dataset.samples || 0) >= 2 && document.querySelector("#live").classList.contains("on")`)

	// Every port is in the table, and the topology has both bridges, the
	// VMs, the patch link and the remote VTEP.
	var ports []string
	wd.js(&ports, `return [...document.querySelectorAll("#ports tbody tr")].map(r => r.dataset.port)`)
	want := []string{v1.nic, v2.nic, v4.nic, in0, "patch-int", "patch-ext", "vx0", vethPortOf(t, da, v3)}
	for _, p := range want {
		if !strings.Contains(strings.Join(ports, " "), p) {
			t.Errorf("ports table lacks %s: %v", p, ports)
		}
	}
	var topo struct {
		Bridges int    `json:"bridges"`
		Patch   int    `json:"patch"`
		Text    string `json:"text"`
	}
	wd.js(&topo, `const s = document.querySelector("#topology svg");
		return {bridges: s.querySelectorAll("g.bridge").length, patch: s.querySelectorAll(".patch-link").length, text: s.textContent}`)
	if topo.Bridges != 2 || topo.Patch != 1 || !strings.Contains(topo.Text, "198.18.0.2") || !strings.Contains(topo.Text, v1.ns) || !strings.Contains(topo.Text, "VNI map 10:5010") {
		t.Errorf("topology: %+v", topo)
	}
	// Counters that change: the sending VM's rx total grows, with a rate.
	var before int
	wd.js(&before, `return Number(document.querySelector('#ports tr[data-port="`+v2.nic+`"] .rx-total').textContent)`)
	wd.until("v2's rx counter grows with a rate", 20*time.Second, `const r = document.querySelector('#ports tr[data-port="`+v2.nic+`"]');
		return Number(r.querySelector(".rx-total").textContent) > arguments[0] && Number(r.querySelector(".rx-pps").textContent.replace(/[kM]/, "")) > 0`, before)
	wd.until("the tunnel port's chart has a line", 20*time.Second, `const p = document.querySelector('#ports tr[data-port="vx0"] polyline'); return p !== null && p.getAttribute("points").split(" ").length > 2`)
	// Drops by reason, highlighted while they happen.
	go func() {
		for i := 0; i < 20; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = testnet.NS(v1.ns, "ping", "-c", "3", "-i", "0.2", "-W", "1", "-s", "1472", "-M", "do", r1.ip)
		}
	}()
	wd.until("mtu-exceeded drops highlighted on vx0", 30*time.Second, `return document.querySelector('#ports tr[data-port="vx0"] .drop.active[data-reason="mtu-exceeded"]') !== null`)
	dir := artifactDir(t)
	shot := filepath.Join(dir, "dashboard.png")
	wd.screenshot(shot)
	t.Logf("screenshot: %s", shot)
	if p := os.Getenv("SWITCHYARD_DASHBOARD_PNG"); p != "" {
		wd.screenshot(p)
	}
	// The FDB, searched.
	wd.js(nil, `document.querySelector('#tabs a[data-tab="fdb"]').click();
		const b = document.querySelector("#fdb-bridge"); b.value = "br-int"; b.dispatchEvent(new Event("change"))`)
	mac := macOf(t, v1)
	wd.until("the FDB lists entries", 10*time.Second, `return document.querySelectorAll("#fdb-table tbody tr").length >= 5`)
	wd.js(nil, `const i = document.querySelector("#fdb-search"); i.value = arguments[0]; i.dispatchEvent(new Event("input"))`, mac)
	wd.until("the FDB search finds one MAC", 10*time.Second, `const r = document.querySelectorAll("#fdb-table tbody tr"); return r.length === 1 && r[0].dataset.mac === arguments[0]`, mac)
	wd.screenshot(filepath.Join(dir, "dashboard-fdb.png"))
	// Tunnels: probe the remote VTEP through the doctor.
	wd.js(nil, `document.querySelector('#tabs a[data-tab="tunnels"]').click(); document.querySelector("#probe").click()`)
	wd.until("the remote VTEP answers the probe", 20*time.Second, `const r = document.querySelector('#tunnel-list tr[data-remote="198.18.0.2"]'); return r !== null && r.textContent.includes("answers")`)
	wd.until("the doctor finds the VM MTU too large for the tunnel", 10*time.Second, `return document.querySelector("#doctor").textContent.includes("carries at most 1450")`)
	wd.screenshot(filepath.Join(dir, "dashboard-tunnels.png"))
	// Flows and a trace drawn as a tree.
	wd.js(nil, `document.querySelector('#tabs a[data-tab="flows"]').click()`)
	wd.until("the flow table has NORMAL", 10*time.Second, `return document.querySelector("#flow-table tbody").textContent.includes("NORMAL")`)
	wd.js(nil, `document.querySelector("#trace-bridge").value = "br-int";
		document.querySelector("#trace-flow").value = arguments[0];
		document.querySelector("#trace-form").requestSubmit()`, "in_port="+v1.nic+",dl_src="+mac+",dl_dst=ff:ff:ff:ff:ff:ff")
	wd.until("the trace tree is drawn", 10*time.Second, `return document.querySelectorAll("#trace-result .tree .node").length >= 2 && document.querySelector("#trace-result .outputs span") !== null`)
	wd.screenshot(filepath.Join(dir, "dashboard-trace.png"))
	// Events, live.
	wd.js(nil, `document.querySelector('#tabs a[data-tab="events"]').click()`)
	da.MustCLI("bridge", "set", "br-ext", "--fdb-max", "4096")
	wd.until("the configuration change arrives in the event stream", 10*time.Second, `return [...document.querySelectorAll("#event-table tbody tr")].some(r => r.textContent.includes("bridge br-ext changed: fdb-max 4096"))`)
	wd.screenshot(filepath.Join(dir, "dashboard-events.png"))
	t.Logf("screenshots in %s", dir)
}

// namedTapVM is tapVM with a chosen port (and NIC) name.
func namedTapVM(t *testing.T, d *testnet.Daemon, br, nic, ip string, vlanFlags ...string) vm {
	t.Helper()
	ns := testnet.NewNS(t, "vm")
	d.MustCLI(append([]string{"port", "add", br, nic, "--type", "tap", "--netns", ns}, vlanFlags...)...)
	testnet.Addr(t, ns, nic, ip+"/24")
	return vm{ns, nic, ip}
}

// namedVethVM is vethVM with a chosen port name.
func namedVethVM(t *testing.T, d *testnet.Daemon, br, port, ip string, vlanFlags ...string) vm {
	t.Helper()
	ns := testnet.NewNS(t, "vm")
	d.MustCLI(append([]string{"veth", "add", port, "--netns", ns, "--bridge", br, "--peer-name", "eth0"}, vlanFlags...)...)
	testnet.Addr(t, ns, "eth0", ip+"/24")
	return vm{ns, "eth0", ip}
}
