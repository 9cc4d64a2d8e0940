package lab

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"portcullis/internal/notice"
)

// A lab VM is a real guest operating system on the lab's bridge, the
// paper's experiment (B's OS runs on the hypervisor and is told of the
// scan): QEMU (KVM when /dev/kvm is usable, TCG emulation otherwise) boots
// a Debian kernel from /boot with an initramfs the lab builds: busybox, the
// NIC's module from the kernel's own /lib/modules, and `portcullis agent`,
// which writes the verified notices to the guest's console. The console is
// the guest's serial port, written to RUNDIR/vm-NAME.console.
//
//	pc-NAME-sw: ovs-vswitchd -- port vm-VM (tap, ofport 200+i) -- qemu -- guest eth0
//	            10.0.0.(200+i)/24, MAC 02:00:00:00:02:i
//
// The VM's processes live in the switch's namespace, so Down ends them
// with the rest of the lab.

// MaxVMs is the number of VMs a lab can hold; VMIndexBase+i is VM i's last
// address byte and OpenFlow port.
const (
	MaxVMs      = 9
	VMIndexBase = 200
)

// VMConfig describes one guest.
type VMConfig struct {
	Name  string // [a-z0-9]{1,8}; the tap port is "vm-NAME"
	Index int    // 1..MaxVMs: address 10.0.0.(200+Index), port 200+Index
	// Kernel is a vmlinuz whose modules are in /lib/modules/VERSION;
	// default: the newest /boot/vmlinuz-* that has them (package
	// linux-image-amd64).
	Kernel string
	// Agent is the portcullis binary run in the guest (default: this
	// executable); a dynamically linked one brings its libraries along.
	Agent string
	// NoticeKey is the key file the guest's agent verifies notices with
	// (the controller's notify.notice.key_file). Empty: no agent.
	NoticeKey string
	// MemoryMiB is the guest's memory (default 256).
	MemoryMiB int
	// Accel is "kvm", "tcg" or "" (kvm when /dev/kvm opens, else tcg).
	Accel string
}

// VM is a booted guest.
type VM struct {
	Name    string
	IP      netip.Addr
	MAC     net.HardwareAddr
	Port    uint32 // OpenFlow port of its tap on the bridge
	Tap     string
	Console string // file holding everything the guest wrote to its serial console
	PID     int    // qemu
	Accel   string // kvm or tcg
	Kernel  string
}

var vmNameRE = regexp.MustCompile(`^[a-z0-9]{1,8}$`)

// VMReady is the line the guest's init prints on its console once its
// network and services are up.
const VMReady = "portcullis-vm: ready"

// StartVM boots the guest vc on the lab's (first) bridge and returns once
// QEMU runs (not once the guest has booted: see [VM.WaitConsole] and
// VMReady). A VM of the same name that still runs is returned as it is.
func (l *Lab) StartVM(ctx context.Context, vc VMConfig) (*VM, error) {
	if !vmNameRE.MatchString(vc.Name) {
		return nil, fmt.Errorf("lab: vm name %q: want [a-z0-9]{1,8}", vc.Name)
	}
	if vc.Index < 1 || vc.Index > MaxVMs {
		return nil, fmt.Errorf("lab: vm index %d: want 1..%d", vc.Index, MaxVMs)
	}
	if l.cfg.Hosts >= VMIndexBase {
		return nil, fmt.Errorf("lab: vm: a lab with %d hosts has no addresses left for VMs (at most %d hosts)", l.cfg.Hosts, VMIndexBase-1)
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return nil, fmt.Errorf("lab: vm: qemu-system-x86_64 not found (apt-get install qemu-system-x86)")
	}
	n := VMIndexBase + vc.Index
	vm := &VM{
		Name:    vc.Name,
		IP:      netip.AddrFrom4([4]byte{10, 0, 0, byte(n)}),
		MAC:     net.HardwareAddr{0x02, 0, 0, 0, 0x02, byte(vc.Index)},
		Port:    uint32(n),
		Tap:     "vm-" + vc.Name,
		Console: l.path("vm-" + vc.Name + ".console"),
		Accel:   vc.Accel,
	}
	pidFile := l.path("vm-" + vc.Name + ".pid")
	if pid := readPid(pidFile); vmRunning(pid, pidFile) {
		vm.PID = pid
		if port, err := l.ofport(ctx, vm.Tap); err == nil && port > 0 {
			vm.Port = port
			return vm, nil
		}
		terminate([]int{pid})
	}
	kernel, modDir, err := findKernel(vc.Kernel)
	if err != nil {
		return nil, err
	}
	vm.Kernel = kernel
	agent := vc.Agent
	if agent == "" {
		if agent, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("lab: vm: %w", err)
		}
	}
	initrd := l.path("vm-" + vc.Name + ".initramfs")
	if err := buildInitramfs(initrd, vm, modDir, agent, vc.NoticeKey); err != nil {
		return nil, err
	}
	if vm.Accel == "" {
		vm.Accel = "tcg"
		if kvmUsable() {
			vm.Accel = "kvm"
		}
	}
	mem := vc.MemoryMiB
	if mem == 0 {
		mem = 256
	}

	sw := l.cfg.SwitchNetns()
	run(ctx, nil, "ip", "-n", sw, "link", "del", vm.Tap) // an earlier boot's
	for _, s := range [][]string{
		{"ip", "-n", sw, "tuntap", "add", "dev", vm.Tap, "mode", "tap"},
		{"ip", "-n", sw, "link", "set", vm.Tap, "up"},
	} {
		if _, err := run(ctx, nil, s...); err != nil {
			return nil, err
		}
	}
	os.Remove(vm.Console)
	args := []string{"ip", "netns", "exec", sw, qemu,
		"-name", "portcullis-lab-" + l.cfg.Name + "-" + vc.Name,
		"-machine", "pc,accel=" + vm.Accel, "-m", strconv.Itoa(mem),
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-kernel", kernel, "-initrd", initrd,
		"-append", "console=ttyS0 panic=-1 quiet loglevel=3 rdinit=/init",
		"-serial", "file:" + vm.Console,
		// vnet_hdr=off: the guest computes its own checksums (the
		// userspace datapath does not fill in offloaded ones).
		"-netdev", "tap,id=n0,ifname=" + vm.Tap + ",script=no,downscript=no,vnet_hdr=off",
		"-device", "e1000,netdev=n0,mac=" + vm.MAC.String(),
		"-pidfile", pidFile, "-daemonize"}
	if vm.Accel == "kvm" {
		args = append(args, "-cpu", "host")
	}
	if _, err := run(ctx, nil, args...); err != nil {
		return nil, err
	}
	vm.PID = readPid(pidFile)
	if _, err := l.vsctl(ctx, "--may-exist", "add-port", l.cfg.Bridge, vm.Tap,
		"--", "set", "Interface", vm.Tap, fmt.Sprintf("ofport_request=%d", n)); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if port, err := l.ofport(ctx, vm.Tap); err == nil && port > 0 {
			vm.Port = port
			return vm, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("lab: vm port %s got no OpenFlow port number", vm.Tap)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// VMs lists the lab's running guests (from their pid files).
func (l *Lab) VMs() []VM {
	pids, _ := filepath.Glob(l.path("vm-*.pid"))
	var vms []VM
	for _, pf := range pids {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(pf), "vm-"), ".pid")
		pid := readPid(pf)
		if !vmNameRE.MatchString(name) || !vmRunning(pid, pf) {
			continue
		}
		vm := VM{Name: name, Tap: "vm-" + name, Console: l.path("vm-" + name + ".console"), PID: pid}
		if port, err := l.ofport(context.Background(), vm.Tap); err == nil && port > 0 {
			vm.Port = port
			if i := int(port) - VMIndexBase; i >= 1 && i <= MaxVMs {
				vm.IP = netip.AddrFrom4([4]byte{10, 0, 0, byte(port)})
				vm.MAC = net.HardwareAddr{0x02, 0, 0, 0, 0x02, byte(i)}
			}
		}
		vms = append(vms, vm)
	}
	return vms
}

// ConsoleText returns what the guest wrote to its console so far.
func (v *VM) ConsoleText() string {
	b, _ := os.ReadFile(v.Console)
	return string(b)
}

// WaitConsole waits until the guest's console holds substr and returns the
// console text.
func (v *VM) WaitConsole(ctx context.Context, substr string) (string, error) {
	for {
		text := v.ConsoleText()
		if strings.Contains(text, substr) {
			return text, nil
		}
		if v.PID != 0 && !alive(v.PID) {
			return text, fmt.Errorf("lab: vm %s: qemu exited before the console said %q", v.Name, substr)
		}
		select {
		case <-ctx.Done():
			return text, fmt.Errorf("lab: vm %s: console never said %q: %w", v.Name, substr, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// vmRunning reports whether pid is the qemu that writes pidFile (QEMU
// takes "-pidfile PATH", which the daemons' isLabProcess does not match).
func vmRunning(pid int, pidFile string) bool {
	if pid <= 1 || zombie(pid) {
		return false
	}
	return strings.Contains(cmdline(pid)+" ", " -pidfile "+pidFile+" ")
}

// kvmUsable reports whether /dev/kvm opens and the processor says it has
// hardware virtualization (a nested guest may have the device without it,
// and a KVM guest then never starts).
func kvmUsable() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	info, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(info), "\n") {
		if strings.HasPrefix(line, "flags") {
			f := " " + line + " "
			return strings.Contains(f, " vmx ") || strings.Contains(f, " svm ")
		}
	}
	return false
}

func alive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil && !zombie(pid)
}

// nicModule is the guest NIC's driver (QEMU's e1000) below /lib/modules/V.
const nicModule = "kernel/drivers/net/ethernet/intel/e1000/e1000.ko"

// findKernel returns the kernel image and its module directory: kernel if
// given, else the newest /boot/vmlinuz-V with /lib/modules/V holding the
// NIC's driver (or having it built in).
func findKernel(kernel string) (string, string, error) {
	hasNIC := func(modDir string) bool {
		if _, err := os.Stat(filepath.Join(modDir, nicModule)); err == nil {
			return true
		}
		b, _ := os.ReadFile(filepath.Join(modDir, "modules.builtin"))
		return bytes.Contains(b, []byte(nicModule))
	}
	if kernel != "" {
		v := strings.TrimPrefix(filepath.Base(kernel), "vmlinuz-")
		mod := filepath.Join("/lib/modules", v)
		if !hasNIC(mod) {
			return "", "", fmt.Errorf("lab: vm: kernel %s: no %s under %s", kernel, filepath.Base(nicModule), mod)
		}
		return kernel, mod, nil
	}
	imgs, _ := filepath.Glob("/boot/vmlinuz-*")
	sort.Sort(sort.Reverse(sort.StringSlice(imgs)))
	for _, img := range imgs {
		mod := filepath.Join("/lib/modules", strings.TrimPrefix(filepath.Base(img), "vmlinuz-"))
		if hasNIC(mod) {
			return img, mod, nil
		}
	}
	return "", "", errors.New("lab: vm: no /boot/vmlinuz-* with its modules in /lib/modules (apt-get install linux-image-amd64)")
}

// busybox is the static busybox the guest runs (package busybox-static).
var busyboxPaths = []string{"/bin/busybox", "/usr/bin/busybox"}

func findBusybox() (string, error) {
	for _, p := range busyboxPaths {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		static := true
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				static = false
			}
		}
		f.Close()
		if static {
			return p, nil
		}
	}
	return "", errors.New("lab: vm: no static busybox (apt-get install busybox-static)")
}

// guestInit is the guest's /init: mounts, the NIC, its address, a web
// server for the client host, and the notice agent writing to the console.
const guestInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
insmod /lib/modules/e1000.ko 2>/dev/null
ip link set lo up
for i in $(seq 50); do ip link show eth0 >/dev/null 2>&1 && break; sleep 0.1; done
ip link set eth0 address {{MAC}}
ip addr add {{IP}}/24 dev eth0
ip link set eth0 up
mkdir -p /www
echo "hello from the guest {{NAME}}" > /www/index.html
httpd -p 80 -h /www
if [ -f /etc/notice.key ]; then
	/bin/portcullis agent --key-file /etc/notice.key --log stderr >/dev/console 2>&1 &
	# Ready only once the agent's UDP socket is open: a notice that
	# arrives before is lost (under a loaded TCG boot that took seconds).
	for i in $(seq 300); do grep -q ':{{PORTHEX}} ' /proc/net/udp /proc/net/udp6 2>/dev/null && break; sleep 0.1; done
fi
echo "{{READY}} name={{NAME}} ip={{IP}} mac={{MAC}} kernel=$(uname -r)" >/dev/console
while true; do sleep 3600; done
`

// buildInitramfs writes the guest's initramfs (an uncompressed newc cpio).
func buildInitramfs(path string, vm *VM, modDir, agent, key string) error {
	bb, err := findBusybox()
	if err != nil {
		return err
	}
	var w cpioWriter
	for _, d := range []string{"bin", "dev", "etc", "lib", "lib/modules", "proc", "sys", "tmp", "www"} {
		w.dir(d, 0o755)
	}
	w.node("dev/console", 0o020600, 5, 1)
	w.node("dev/null", 0o020666, 1, 3)
	init := strings.NewReplacer("{{MAC}}", vm.MAC.String(), "{{IP}}", vm.IP.String(),
		"{{NAME}}", vm.Name, "{{READY}}", VMReady,
		"{{PORTHEX}}", fmt.Sprintf("%04X", notice.DefaultPort)).Replace(guestInit)
	w.file("init", 0o755, []byte(init))
	if err := w.copy("bin/busybox", bb, 0o755); err != nil {
		return err
	}
	if mod := filepath.Join(modDir, nicModule); fileExists(mod) {
		if err := w.copy("lib/modules/e1000.ko", mod, 0o644); err != nil {
			return err
		}
	}
	if key != "" {
		if err := w.copy("etc/notice.key", key, 0o600); err != nil {
			return err
		}
		if err := w.copy("bin/portcullis", agent, 0o755); err != nil {
			return err
		}
		libs, err := sharedLibs(agent)
		if err != nil {
			return err
		}
		for _, lib := range libs {
			rel := strings.TrimPrefix(lib, "/")
			w.dirAll(filepath.Dir(rel))
			if err := w.copy(rel, lib, 0o755); err != nil {
				return err
			}
		}
	}
	return os.WriteFile(path, w.close(), 0o600)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// sharedLibs returns the dynamic loader and the libraries bin needs,
// transitively (none for a static binary).
func sharedLibs(bin string) ([]string, error) {
	dirs := []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}
	seen := map[string]bool{}
	var out []string
	var walk func(string) error
	walk = func(p string) error {
		f, err := elf.Open(p)
		if err != nil {
			return fmt.Errorf("lab: vm: %s: %w", p, err)
		}
		defer f.Close()
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				b := make([]byte, prog.Filesz)
				if _, err := prog.ReadAt(b, 0); err == nil {
					interp := strings.TrimRight(string(b), "\x00")
					if !seen[interp] {
						seen[interp] = true
						out = append(out, interp)
					}
				}
			}
		}
		needed, _ := f.ImportedLibraries()
		for _, name := range needed {
			found := ""
			for _, d := range dirs {
				if fileExists(filepath.Join(d, name)) {
					found = filepath.Join(d, name)
					break
				}
			}
			if found == "" {
				return fmt.Errorf("lab: vm: %s needs %s: not found", p, name)
			}
			if seen[found] {
				continue
			}
			seen[found] = true
			out = append(out, found)
			if err := walk(found); err != nil {
				return err
			}
		}
		return nil
	}
	return out, walk(bin)
}

// cpioWriter builds a newc ("070701") cpio archive in memory: what the
// kernel unpacks as an initramfs.
type cpioWriter struct {
	buf  bytes.Buffer
	ino  int
	dirs map[string]bool
}

func (w *cpioWriter) header(name string, mode uint32, size int, rmaj, rmin int) {
	w.ino++
	fmt.Fprintf(&w.buf, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		w.ino, mode, 0, 0, 1, 0, size, 0, 0, rmaj, rmin, len(name)+1, 0)
	w.buf.WriteString(name)
	w.buf.WriteByte(0)
	w.pad()
}

func (w *cpioWriter) pad() {
	for w.buf.Len()%4 != 0 {
		w.buf.WriteByte(0)
	}
}

func (w *cpioWriter) dir(name string, perm uint32) {
	if w.dirs == nil {
		w.dirs = map[string]bool{}
	}
	if w.dirs[name] {
		return
	}
	w.dirs[name] = true
	w.header(name, 0o040000|perm, 0, 0, 0)
}

// dirAll adds dir and its parents, parents first.
func (w *cpioWriter) dirAll(dir string) {
	if dir == "." || dir == "/" || dir == "" {
		return
	}
	w.dirAll(filepath.Dir(dir))
	w.dir(dir, 0o755)
}

func (w *cpioWriter) node(name string, mode uint32, major, minor int) {
	w.header(name, mode, 0, major, minor)
}

func (w *cpioWriter) file(name string, perm uint32, data []byte) {
	w.header(name, 0o100000|perm, len(data), 0, 0)
	w.buf.Write(data)
	w.pad()
}

func (w *cpioWriter) copy(name, src string, perm uint32) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("lab: vm: %w", err)
	}
	w.file(name, perm, b)
	return nil
}

func (w *cpioWriter) close() []byte {
	w.header("TRAILER!!!", 0, 0, 0, 0)
	return w.buf.Bytes()
}
