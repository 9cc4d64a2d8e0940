package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"portcullis/internal/lab"
	"portcullis/internal/testenv"
)

// The paper's experiment with a real guest OS (issue 10 item 3): A (h1)
// port-scans B, a virtual machine whose kernel and init run under QEMU on
// the lab's bridge; the confined controller blocks A; B's own log, read
// over its serial console, shows the verified, signed notice naming A; the
// client (h2) keeps talking to B, A is cut off. One VM boot (TCG where the
// processor has no virtualization: about 10 s).
func TestVMGuestNotified(t *testing.T) {
	RequireLab(t)
	testenv.Tool(t, "qemu-system-x86_64", "nmap", "curl", "ping")
	if _, err := os.Stat("/bin/busybox"); err != nil {
		testenv.Missing(t, "no /bin/busybox: apt-get install busybox-static")
	}
	if imgs, _ := filepath.Glob("/boot/vmlinuz-*"); len(imgs) == 0 {
		testenv.Missing(t, "no kernel in /boot: apt-get install linux-image-amd64")
	}
	key := filepath.Join(t.TempDir(), "notice.key")
	if err := os.WriteFile(key, []byte(strings.Repeat("5a", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := StartPortcullis(t, "--notice-key-file", key, "--api-token", scanToken)
	cfg := LabConfig(2)
	cfg.Controllers = []string{c.Target}
	l := StartLab(t, cfg)
	scanWaitSwitchUp(t, c)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	vm, err := l.StartVM(ctx, lab.VMConfig{Name: "guest", Index: 1, NoticeKey: key, Agent: Binary(t)})
	if err != nil {
		t.Fatal(err)
	}
	if text, err := vm.WaitConsole(ctx, lab.VMReady); err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, text)
	}
	if _, err := vm.WaitConsole(ctx, "portcullis agent: listening"); err != nil {
		t.Fatalf("the guest's agent did not start: %v\nconsole:\n%s", err, vm.ConsoleText())
	}
	t.Logf("guest %s booted (%s, %s) in %v", vm.IP, vm.Accel, filepath.Base(vm.Kernel), time.Since(start).Round(100*time.Millisecond))

	url := "http://" + vm.IP.String() + "/"
	fetch := func(host int) (string, error) {
		out, err := l.Exec(ctx, l.Host(host).Name, "curl", "-s", "-m", "3", "--retry", "2", url).CombinedOutput()
		return string(out), err
	}
	if out, err := fetch(2); err != nil || !strings.Contains(out, "hello from the guest") {
		t.Fatalf("the client cannot fetch %s from the guest before the scan: %v %q", url, err, out)
	}

	p := scanStart(t, l, 1, 30*time.Second, "nmap", "-n", "-sS", "-T4", "--max-retries", "1", "-p", "1-1000", vm.IP.String())
	blocks := scanWaitBlock(t, c, 30*time.Second, p.done)
	p.Kill()
	if len(blocks) == 0 {
		t.Fatalf("no block of the scanner; nmap:\n%s\ncontroller:\n%s", p.Output(), c.Logs())
	}
	att := l.Host(1)
	if b := blocks[0]; !strings.EqualFold(b.MAC, att.MAC.String()) {
		t.Errorf("blocked %s, want the scanner h1 %s: %s", b.MAC, att.MAC, scanJSON(b))
	}

	// The guest's own log: the notice, verified by its agent.
	text, err := vm.WaitConsole(ctx, "NOTICE blocked")
	if err != nil {
		t.Fatalf("no notice on the guest's console: %v\n%s\ncontroller:\n%s", err, text, c.Logs())
	}
	var line string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, "NOTICE blocked") {
			line = l
		}
	}
	t.Logf("guest console: %s", strings.TrimSpace(line))
	for _, want := range []string{"scanner=" + att.IP.String(), "mac=" + att.MAC.String(), "victim=" + vm.IP.String(), "kind=port-scan"} {
		if !strings.Contains(line, want) {
			t.Errorf("the guest's notice lacks %q: %s", want, line)
		}
	}
	if strings.Contains(text, "REJECTED") {
		t.Errorf("the guest's agent rejected a notice:\n%s", text)
	}

	// The client keeps talking to the guest; the scanner is cut off.
	if out, err := fetch(2); err != nil || !strings.Contains(out, "hello from the guest") {
		t.Errorf("the client lost the guest after the block: %v %q", err, out)
	}
	if out, err := l.Exec(ctx, att.Name, "curl", "-s", "-m", "2", url).CombinedOutput(); err == nil {
		t.Errorf("the blocked scanner still fetches %s: %q", url, out)
	}
}
