package policy

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"portcullis/internal/detect"
	"portcullis/internal/event"
	"portcullis/internal/forward"
	"portcullis/ofp"
)

// Engine scenario scripts (testdata/engine/*.txt), in the manner of etcd raft's interaction tests
// and internal/detect's scenarios: a network of fake switches and stations, inputs to the engine,
// and what must hold after them. The harness plays the driver: it applies every Send to the fake
// switch's flow table (unless the switch loses it), answers every Dump from that table as it was
// when the Dump was asked for (later sends reach the switch after the request), confirms
// every install by reading it back, and acknowledges every pass's barrier, until the engine has
// nothing more to do (unless paused). Times are seconds from the scenario's start. Lines:
//
//	config KEY=VALUE ...          scope=ingress|network grace=SECS audit=SECS (default 0: no audit)
//	                              never=CIDR,... allow=CIDR,...
//	switch DPID                   a switch connects (a new session; the first pass runs)
//	disconnect DPID               its session ends
//	host NAME DPID PORT [mac=M] [ip=A,B] [disputed=A,B] [learned=T]
//	                              a station learned at PORT of switch DPID (MAC 02:00:00:00:DPID:N
//	                              unless given; learned at T, default 0); again: it moves there.
//	                              disputed: addresses it used that the switch does not vouch for
//	                              (another station used them too: in Hosts, not in IPLivesAt)
//	unhost NAME DPID              the station is forgotten on that switch
//	at T                          the time is T seconds
//	tick                          Engine.Tick
//	verdict NAME KIND [on=DPID] [port=P] [mac=NAME2] [ips=A,B] [probes=N] [targets=A,B]
//	                              a verdict for NAME's source (its switch, port and MAC; on picks the
//	                              switch NAME is on, port and mac override them: a frame with NAME2's
//	                              MAC entering at NAME's port); ips default to NAME's addresses
//	repeat i=A..B LINE            LINE for i in A..B, "{i}" replaced by i
//	block ID ip=A | mac=NAME [dur=SECS]   an operator's block; ID names it for later lines
//	lift NAME|ID                  the operator lifts the block of NAME's source (or ID)
//	portdown DPID NAME...         the port of NAME... on DPID went down with them
//	lose DPID N                   the switch loses the next N flow-mod batches it is sent
//	drift DPID wipe|stale         the switch loses every block flow / gains a stale one of ours
//	pause | resume                stop / restart answering IO (pending IO is answered on resume)
//	restart                       a new engine restored from what the old one wrote to the store;
//	                              every connected switch connects to it again
//	expect block NAME|ID [portwide] [spoofed] [ipbound] [level=N] [kind=K] [at=DPID:PORT]
//	expect noblock NAME           no block has NAME's MAC as its source
//	expect blocks N               N blocks held
//	expect flows DPID NAME|ID [has=S] [lacks=S]   the switch holds the block's flows (all of them,
//	                              as BlockInstall would send); S a substring of one of its drop
//	                              flows' matches ("in_port=3", "ipv4_src=10.0.0.2", ...)
//	expect noflows DPID NAME|ID   the switch holds no flow of the block
//	expect clean DPID             the switch holds no block flow of a block not held
//	expect state NAME|ID DPID pending|confirmed|failed|none
//	expect event TYPE [reason=R]  an event of TYPE was published since the last expect event/none
//	expect noevent TYPE           none of TYPE since then
//	expect notice IP              a notice to IP was asked for since the last expect notice
//	expect release DPID NAME      the engine asked to release NAME's home on DPID
//
// A cluster (engine_store.go): the store is shared with other instances.
//
//	role leader|follower          Engine.SetLeader
//	stored ID ip=A|mac=NAME [dur=SECS] [ips=A,B]
//	                              another instance wrote block ID (manual, network scope, dur
//	                              default 600, ips: more addresses it drops); StoreBlocks
//	unstored ID                   another instance deleted block ID
//	storereset [ID...]            the watch was lost: a snapshot holding block records ID... (as the
//	                              store has them) and no other
//	storehist NAME count=N        another instance wrote NAME's escalation record
//	expect writes N               the engine asked for N store writes since the last expect writes

type scenStation struct {
	name string
	dpid uint64
	port uint32
	mac  [6]byte
	ips  []netip.Addr
	// disputed are addresses it used that IPLivesAt does not vouch for (forward.Switch.IPLivesAt).
	disputed []netip.Addr
	learn    time.Time
}

type fakeTable struct {
	epoch uint64
	up    bool
	lose  int
	flows []*ofp.FlowMod
}

type engScenario struct {
	t       *testing.T
	file    string
	line    int
	base    time.Time
	now     time.Time
	e       *Engine
	set     Settings
	grace   time.Duration
	started bool
	// the network
	stations map[string]map[uint64]*scenStation // name -> dpid -> station
	order    []*scenStation
	tables   map[uint64]*fakeTable
	epochs   uint64
	ids      int
	named    map[string]string // operator block names -> block ids
	fl       floodScen         // SYN floods (engine_flood_test.go)
	// the store, as the engine's Writes left it
	stBlocks map[string]BlockRecord
	stHist   map[string]History
	writes   int // store writes since the last expect writes
	// IO
	paused   bool
	pending  []func()
	events   []event.Event
	notices  []Notice
	releases []Release
}

func TestEngineScenarios(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "engine", "*.txt"))
	if len(files) == 0 {
		t.Fatal("no engine scenarios in testdata/engine")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			runEngineScenario(t, f)
		})
	}
}

func runEngineScenario(t *testing.T, file string) {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := &engScenario{t: t, file: file, base: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC),
		stations: map[string]map[uint64]*scenStation{}, tables: map[uint64]*fakeTable{}, named: map[string]string{},
		stBlocks: map[string]BlockRecord{}, stHist: map[string]History{}}
	s.now = s.base
	s.set = Settings{Scope: ScopeIngress}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		s.line++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s.do(line)
	}
}

func (s *engScenario) fatalf(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("%s:%d: %s", filepath.Base(s.file), s.line, fmt.Sprintf(format, args...))
}

func (s *engScenario) errorf(format string, args ...any) {
	s.t.Helper()
	s.t.Errorf("%s:%d: %s", filepath.Base(s.file), s.line, fmt.Sprintf(format, args...))
}

func (s *engScenario) start() {
	if s.started {
		return
	}
	s.started = true
	cfg := EngineConfig{Stations: s, Started: s.base, Grace: s.grace, NewID: func() string {
		s.ids++
		return fmt.Sprintf("b%d", s.ids)
	}}
	s.floodEngine(&cfg) // engine_flood_test.go
	s.e = NewEngine(cfg, s.set)
}

func kv(args []string) (map[string]string, []string) {
	m := map[string]string{}
	var rest []string
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			m[k] = v
		} else {
			rest = append(rest, a)
		}
	}
	return m, rest
}

func (s *engScenario) secs(v string) time.Duration {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		s.fatalf("bad seconds %q", v)
	}
	return time.Duration(f * float64(time.Second))
}

func (s *engScenario) num(v string) uint64 {
	n, err := strconv.ParseUint(v, 0, 64)
	if err != nil {
		s.fatalf("bad number %q", v)
	}
	return n
}

func (s *engScenario) addrs(v string) []netip.Addr {
	var out []netip.Addr
	for _, a := range strings.Split(v, ",") {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			s.fatalf("bad address %q", a)
		}
		out = append(out, ip)
	}
	return out
}

func (s *engScenario) allowlist(v string) *Allowlist {
	al, err := ParseAllowlist(strings.Split(v, ","))
	if err != nil {
		s.fatalf("bad list %q: %v", v, err)
	}
	return al
}

// station returns NAME's station: on dpid if given (non-zero), else the first learned.
func (s *engScenario) station(name string, dpid uint64) *scenStation {
	m := s.stations[name]
	if dpid != 0 {
		if st := m[dpid]; st != nil {
			return st
		}
	}
	for _, st := range s.order {
		if st.name == name && (dpid == 0 || st.dpid == dpid) && m[st.dpid] == st {
			return st
		}
	}
	s.fatalf("no station %q", name)
	return nil
}

func (s *engScenario) do(line string) {
	s.t.Helper()
	f := strings.Fields(line)
	cmd, args := f[0], f[1:]
	if cmd != "config" {
		s.start()
	}
	switch cmd {
	case "config":
		m, _ := kv(args)
		for k, v := range m {
			switch k {
			case "scope":
				sc, err := ParseScope(v)
				if err != nil {
					s.fatalf("%v", err)
				}
				s.set.Scope = sc
			case "grace":
				s.grace = s.secs(v)
			case "audit":
				s.set.AuditInterval = s.secs(v)
			case "never":
				s.set.Never = s.allowlist(v)
			case "allow":
				s.set.Allow = s.allowlist(v)
			default:
				if !s.floodConfig(k, v) {
					s.fatalf("unknown config %q", k)
				}
			}
		}
		return
	case "repeat":
		m, rest := kv(args[:1])
		lo, hi, ok := strings.Cut(m["i"], "..")
		if !ok || len(rest) != 0 {
			s.fatalf("repeat i=A..B LINE")
		}
		for i := s.num(lo); i <= s.num(hi); i++ {
			s.do(strings.ReplaceAll(strings.Join(args[1:], " "), "{i}", strconv.FormatUint(i, 10)))
		}
		return
	case "at":
		s.now = s.base.Add(s.secs(args[0]))
	case "switch":
		dpid := s.num(args[0])
		s.epochs++
		tb := s.tables[dpid]
		if tb == nil {
			tb = &fakeTable{}
			s.tables[dpid] = tb
		}
		tb.epoch, tb.up = s.epochs, true
		s.e.SwitchConnected(s.now, dpid, tb.epoch, "192.0.2.1:6653")
	case "disconnect":
		dpid := s.num(args[0])
		tb := s.tables[dpid]
		tb.up = false
		s.e.SwitchDisconnected(dpid, tb.epoch)
	case "host":
		s.host(args)
	case "unhost":
		delete(s.stations[args[0]], s.num(args[1]))
	case "tick":
		s.e.SetSettings(s.set)
		s.e.Tick(s.now)
	case "verdict":
		s.verdict(args)
	case "block":
		s.manual(args)
	case "lift":
		if err := s.e.RemoveBlock(s.now, s.blockID(args[0])); err != nil {
			s.fatalf("lift: %v", err)
		}
	case "portdown":
		dpid := s.num(args[0])
		var macs [][6]byte
		for _, n := range args[1:] {
			st := s.station(n, dpid)
			macs = append(macs, st.mac)
			delete(s.stations[n], dpid)
		}
		s.e.PortDown(s.now, dpid, macs)
	case "lose":
		s.tables[s.num(args[0])].lose = int(s.num(args[1]))
	case "drift":
		tb := s.tables[s.num(args[0])]
		switch args[1] {
		case "wipe":
			tb.flows = nil
		case "stale":
			tb.flows = append(tb.flows, &ofp.FlowMod{Cookie: forward.Cookie(forward.KindBlock, 0xbad), TableID: forward.TableAdmission,
				Priority: forward.PriorityBlock, Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchEthSrc([]byte{2, 0, 0, 0, 0, 0x99})}}})
		default:
			s.fatalf("drift wipe|stale")
		}
	case "restart":
		s.pending = nil
		s.started = false
		s.start()
		var blocks []BlockRecord
		for _, r := range s.stBlocks {
			blocks = append(blocks, r)
		}
		slices.SortFunc(blocks, func(a, b BlockRecord) int { return strings.Compare(a.Block.ID, b.Block.ID) })
		s.e.Restore(s.now, blocks, maps.Clone(s.stHist))
		for _, dpid := range slices.Sorted(maps.Keys(s.tables)) {
			if tb := s.tables[dpid]; tb.up {
				s.epochs++
				tb.epoch = s.epochs
				s.e.SwitchConnected(s.now, dpid, tb.epoch, "192.0.2.1:6653")
			}
		}
	case "role":
		s.e.SetLeader(args[0] == "leader")
	case "stored":
		r := s.storedRecord(args)
		s.stBlocks[r.Block.ID] = r
		s.named[r.Block.ID] = r.Block.ID
		s.e.StoreBlocks(s.now, false, []StoredBlock{{ID: r.Block.ID, Record: r}})
	case "unstored":
		id := s.blockID(args[0])
		delete(s.stBlocks, id)
		s.e.StoreBlocks(s.now, false, []StoredBlock{{ID: id, Deleted: true}})
	case "storereset":
		var snap []StoredBlock
		for _, ref := range args {
			id := s.blockID(ref)
			r, ok := s.stBlocks[id]
			if !ok {
				s.fatalf("storereset: %s is not in the store", ref)
			}
			snap = append(snap, StoredBlock{ID: id, Record: r})
		}
		s.e.StoreBlocks(s.now, true, snap)
	case "storehist":
		m, _ := kv(args[1:])
		h := History{Count: int(s.num(m["count"])), Last: s.now}
		key := macString(s.macOf(args[0]))
		s.stHist[key] = h
		s.e.StoreHistory(s.now, key, h, false)
	case "pause":
		s.paused = true
	case "resume":
		s.paused = false
	case "expect":
		s.expect(args)
		return
	default:
		if !s.floodDo(cmd, args) {
			s.fatalf("unknown command %q", cmd)
		}
	}
	s.drive()
}

func (s *engScenario) host(args []string) {
	m, rest := kv(args)
	if len(rest) != 3 {
		s.fatalf("host NAME DPID PORT [mac=M] [ip=A,B] [disputed=A,B] [learned=T]")
	}
	st := &scenStation{name: rest[0], dpid: s.num(rest[1]), port: uint32(s.num(rest[2])), learn: s.base}
	if old := s.stations[st.name]; len(old) > 0 {
		for _, o := range old {
			st.mac, st.ips = o.mac, o.ips
			break
		}
	} else {
		st.mac = [6]byte{0x02, 0, 0, 0, byte(st.dpid), byte(len(s.stations) + 1)}
	}
	if v, ok := m["mac"]; ok {
		if o := s.stations[v]; len(o) > 0 {
			for _, x := range o {
				st.mac = x.mac
				break
			}
		} else {
			s.fatalf("mac=%s: no such station", v)
		}
	}
	if v, ok := m["ip"]; ok {
		st.ips = s.addrs(v)
	}
	if v, ok := m["disputed"]; ok {
		st.disputed = s.addrs(v)
	}
	if v, ok := m["learned"]; ok {
		st.learn = s.base.Add(s.secs(v))
	}
	if s.stations[st.name] == nil {
		s.stations[st.name] = map[uint64]*scenStation{}
	}
	s.stations[st.name][st.dpid] = st
	s.order = append(s.order, st)
}

func (s *engScenario) verdict(args []string) {
	m, rest := kv(args)
	if len(rest) != 2 {
		s.fatalf("verdict NAME KIND [...]")
	}
	var on uint64
	if v, ok := m["on"]; ok {
		on = s.num(v)
	}
	st := s.station(rest[0], on)
	v := detect.Verdict{Source: detect.Source{DPID: st.dpid, Port: st.port, MAC: st.mac}, Kind: detect.Kind(rest[1]),
		Reason: "scenario " + rest[1], Probes: 4, Score: 1, First: s.now, At: s.now}
	if p, ok := m["port"]; ok {
		v.Source.Port = uint32(s.num(p))
	}
	if n, ok := m["mac"]; ok {
		v.Source.MAC = s.macOf(n)
	}
	if ips, ok := m["ips"]; ok {
		v.IPs = s.addrs(ips)
	} else {
		v.IPs = st.ips
	}
	if p, ok := m["probes"]; ok {
		v.Probes = int(s.num(p))
	}
	if ts, ok := m["targets"]; ok {
		v.Targets = s.addrs(ts)
	}
	s.e.SetSettings(s.set)
	s.e.Verdict(s.now, v)
}

func (s *engScenario) manual(args []string) {
	m, rest := kv(args)
	if len(rest) != 1 {
		s.fatalf("block ID ip=A|mac=NAME [dur=SECS]")
	}
	var req ManualBlock
	if v, ok := m["ip"]; ok {
		req.IP = s.addrs(v)[0]
	}
	if v, ok := m["mac"]; ok {
		req.MAC, req.HasMAC = s.macOf(v), true
	}
	if v, ok := m["dur"]; ok {
		req.Duration = s.secs(v)
	}
	s.e.SetSettings(s.set)
	r, err := s.e.AddBlock(s.now, req)
	if err != nil {
		s.named[rest[0]] = "error: " + err.Error()
		return
	}
	s.named[rest[0]] = r.Block.ID
}

// drive plays the driver until the engine has nothing more to do.
func (s *engScenario) drive() {
	for {
		for s.e.HasReady() {
			rd := s.e.Ready()
			s.e.Advance()
			s.apply(rd)
		}
		if s.paused || len(s.pending) == 0 {
			return
		}
		io := s.pending
		s.pending = nil
		for _, f := range io {
			f()
		}
	}
}

func (s *engScenario) apply(rd Ready) {
	s.writes += len(rd.Writes)
	for _, w := range rd.Writes {
		switch w.Kind {
		case PutBlock:
			s.stBlocks[w.Key] = w.Block
		case DeleteBlock:
			delete(s.stBlocks, w.Key)
		case PutHistory:
			s.stHist[w.Key] = w.History
		}
	}
	s.events = append(s.events, rd.Events...)
	s.notices = append(s.notices, rd.Notices...)
	s.releases = append(s.releases, rd.Release...)
	s.floodApply(rd)
	for _, r := range rd.Release {
		if st := s.stations[s.nameOf(r.MAC)][r.DPID]; st != nil && st.port == r.At {
			delete(s.stations[st.name], r.DPID)
		}
	}
	for _, snd := range rd.Sends {
		tb := s.tables[snd.DPID]
		if tb == nil || !tb.up || tb.epoch != snd.Epoch {
			continue
		}
		if len(snd.Msgs) > 0 && tb.lose > 0 {
			tb.lose--
		} else {
			for _, m := range snd.Msgs {
				tb.apply(m.(*ofp.FlowMod))
			}
		}
		switch {
		case snd.Install != "":
			snd := snd
			s.pending = append(s.pending, func() {
				var have []ofp.FlowStats
				for _, f := range tb.flows {
					if f.Cookie == BlockCookie(snd.Install) {
						have = append(have, ofp.FlowStats{Cookie: f.Cookie, TableID: f.TableID, Priority: f.Priority, Match: f.Match})
					}
				}
				s.e.InstallConfirmed(s.now, snd.DPID, snd.Epoch, snd.Install, have, "")
			})
		case snd.Pass != 0:
			snd := snd
			s.pending = append(s.pending, func() { s.e.PassDone(s.now, snd.DPID, snd.Epoch, snd.Pass, nil, false) })
		}
	}
	for _, d := range rd.Dumps {
		tb := s.tables[d.DPID]
		if tb == nil || !tb.up || tb.epoch != d.Epoch {
			continue
		}
		d := d
		// The switch answers with its table as it is when it reads the request: before whatever
		// is sent after it.
		var have []ofp.FlowStats
		for _, f := range tb.flows {
			have = append(have, ofp.FlowStats{Cookie: f.Cookie, TableID: f.TableID, Priority: f.Priority, Match: f.Match})
		}
		s.pending = append(s.pending, func() {
			if !tb.up {
				s.e.PassReply(s.now, d.DPID, d.Epoch, d.Pass, nil, errors.New("session closed"))
				return
			}
			s.e.PassReply(s.now, d.DPID, d.Epoch, d.Pass, have, nil)
		})
	}
}

// macOf is NAME's MAC, learned anywhere or forgotten since.
func (s *engScenario) macOf(name string) [6]byte {
	for _, st := range s.order {
		if st.name == name {
			return st.mac
		}
	}
	s.fatalf("no station %q", name)
	return [6]byte{}
}

func (s *engScenario) nameOf(mac [6]byte) string {
	for _, st := range s.order {
		if st.mac == mac {
			return st.name
		}
	}
	return ""
}

// apply changes the fake switch's table as Open vSwitch would for our block flow-mods.
func (tb *fakeTable) apply(fm *ofp.FlowMod) {
	switch fm.Command {
	case ofp.FlowAdd:
		k := flowKey(fm.TableID, fm.Priority, fm.Match)
		for i, f := range tb.flows {
			if flowKey(f.TableID, f.Priority, f.Match) == k {
				tb.flows[i] = fm
				return
			}
		}
		tb.flows = append(tb.flows, fm)
	case ofp.FlowDelete:
		tb.flows = slices.DeleteFunc(tb.flows, func(f *ofp.FlowMod) bool { return f.Cookie&fm.CookieMask == fm.Cookie&fm.CookieMask })
	case ofp.FlowDeleteStrict:
		k := flowKey(fm.TableID, fm.Priority, fm.Match)
		tb.flows = slices.DeleteFunc(tb.flows, func(f *ofp.FlowMod) bool {
			return f.Cookie == fm.Cookie && flowKey(f.TableID, f.Priority, f.Match) == k
		})
	}
}

// ---- the station view (Stations) ----

func (s *engScenario) PortOf(dpid uint64, mac [6]byte) (uint32, bool) {
	for _, st := range s.live(dpid) {
		if st.mac == mac {
			return st.port, true
		}
	}
	return 0, false
}

func (s *engScenario) IPLivesAt(dpid uint64, ip netip.Addr) (uint32, [6]byte, bool) {
	for _, st := range s.live(dpid) {
		if slices.Contains(st.ips, ip) {
			return st.port, st.mac, true
		}
	}
	return 0, [6]byte{}, false
}

func (s *engScenario) Hosts(dpid uint64) []forward.Host {
	var out []forward.Host
	for _, st := range s.live(dpid) {
		ips := append(slices.Clone(st.ips), st.disputed...)
		out = append(out, forward.Host{MAC: st.mac, Port: st.port, IPs: ips, Learned: st.learn, LastSeen: st.learn})
	}
	return out
}

func (s *engScenario) live(dpid uint64) []*scenStation {
	var out []*scenStation
	seen := map[string]bool{}
	for i := len(s.order) - 1; i >= 0; i-- { // the latest entry of each station
		st := s.order[i]
		if st.dpid != dpid || seen[st.name] || s.stations[st.name][dpid] != st {
			continue
		}
		seen[st.name] = true
		out = append(out, st)
	}
	return out
}

// ---- expectations ----

func (s *engScenario) blockID(ref string) string {
	if id, ok := s.named[ref]; ok {
		return id
	}
	mac := s.macOf(ref)
	for _, b := range s.e.Blocks() {
		if b.Record.Block.Source.MAC == mac {
			return b.Record.Block.ID
		}
	}
	return ""
}

func (s *engScenario) find(ref string) (BlockStatus, bool) {
	id := s.blockID(ref)
	if id == "" {
		return BlockStatus{}, false
	}
	return s.e.Block(id)
}

func matchString(m ofp.Match) string {
	var parts []string
	for _, f := range m.Fields {
		switch f.Field {
		case ofp.OXMInPort:
			parts = append(parts, fmt.Sprintf("in_port=%d", uint32(f.Value[0])<<24|uint32(f.Value[1])<<16|uint32(f.Value[2])<<8|uint32(f.Value[3])))
		case ofp.OXMEthSrc:
			parts = append(parts, "eth_src="+macString([6]byte(f.Value)))
		case ofp.OXMIPv4Src:
			parts = append(parts, "ipv4_src="+netip.AddrFrom4([4]byte(f.Value)).String())
		case ofp.OXMIPv6Src:
			parts = append(parts, "ipv6_src="+netip.AddrFrom16([16]byte(f.Value)).String())
		}
	}
	return strings.Join(parts, ",")
}

func (s *engScenario) expect(args []string) {
	s.t.Helper()
	if len(args) == 0 {
		s.fatalf("expect what?")
	}
	m, rest := kv(args[1:])
	switch args[0] {
	case "block":
		b, ok := s.find(rest[0])
		if !ok {
			s.errorf("no block of %s; blocks: %s", rest[0], s.describe())
			return
		}
		blk := b.Record.Block
		for _, flag := range rest[1:] {
			switch flag {
			case "portwide":
				if !blk.PortWide {
					s.errorf("block of %s not port-wide: %+v", rest[0], blk)
				}
			case "spoofed":
				if !blk.Spoofed {
					s.errorf("block of %s not spoofed: %+v", rest[0], blk)
				}
			case "ipbound":
				if !blk.IPBound {
					s.errorf("block of %s binds no address: %+v", rest[0], blk)
				}
			case "notportwide":
				if blk.PortWide {
					s.errorf("block of %s port-wide: %+v", rest[0], blk)
				}
			default:
				s.fatalf("unknown block flag %q", flag)
			}
		}
		if v, ok := m["level"]; ok && blk.Level != int(s.num(v)) {
			s.errorf("block of %s at level %d, want %s", rest[0], blk.Level, v)
		}
		if v, ok := m["kind"]; ok && blk.Kind != v {
			s.errorf("block of %s kind %s, want %s", rest[0], blk.Kind, v)
		}
		if v, ok := m["at"]; ok {
			if got := fmt.Sprintf("%d:%d", blk.Source.DPID, blk.Source.Port); got != v {
				s.errorf("block of %s at %s, want %s", rest[0], got, v)
			}
		}
	case "noblock":
		if _, ok := s.find(rest[0]); ok {
			s.errorf("%s is blocked: %s", rest[0], s.describe())
		}
	case "blocks":
		if n := s.e.Len(); n != int(s.num(rest[0])) {
			s.errorf("%d blocks, want %s: %s", n, rest[0], s.describe())
		}
	case "flows", "noflows":
		dpid := s.num(rest[0])
		tb := s.tables[dpid]
		b, ok := s.find(rest[1])
		if !ok {
			if args[0] == "noflows" {
				return
			}
			s.errorf("no block of %s", rest[1])
			return
		}
		var held []ofp.FlowStats
		var drops []string
		for _, f := range tb.flows {
			if f.Cookie == b.Record.Block.FlowCookie() {
				held = append(held, ofp.FlowStats{Cookie: f.Cookie, TableID: f.TableID, Priority: f.Priority, Match: f.Match})
				if f.Priority == forward.PriorityBlock {
					drops = append(drops, matchString(f.Match))
				}
			}
		}
		if args[0] == "noflows" {
			if len(held) > 0 {
				s.errorf("switch %d holds %d flows of %s's block: %v", dpid, len(held), rest[1], drops)
			}
			return
		}
		want := BlockInstall(b.Record.Block, dpid, s.now)
		if len(want) == 0 || len(held) != len(want) || len(Reconcile([]Block{b.Record.Block}, held, dpid, s.now)) != 0 {
			s.errorf("switch %d holds %d of the %d flows of %s's block: %v", dpid, len(held), len(want), rest[1], drops)
		}
		if v, ok := m["has"]; ok && !slices.ContainsFunc(drops, func(d string) bool { return strings.Contains(d, v) }) {
			s.errorf("no drop flow of %s's block on %d matches %s: %v", rest[1], dpid, v, drops)
		}
		if v, ok := m["lacks"]; ok && slices.ContainsFunc(drops, func(d string) bool { return strings.Contains(d, v) }) {
			s.errorf("a drop flow of %s's block on %d matches %s: %v", rest[1], dpid, v, drops)
		}
	case "clean":
		dpid := s.num(rest[0])
		for _, f := range s.tables[dpid].flows {
			held := false
			for _, b := range s.e.Blocks() {
				if b.Record.Block.FlowCookie() == f.Cookie {
					held = true
				}
			}
			if !held {
				s.errorf("switch %d holds a flow of no block: cookie %#x %s", dpid, f.Cookie, matchString(f.Match))
			}
		}
	case "state":
		b, ok := s.find(rest[0])
		dpid := s.num(rest[1])
		got := "none"
		if ok {
			for _, st := range b.Switches {
				if st.DPID == dpid {
					got = st.State
				}
			}
		}
		if got != rest[2] {
			s.errorf("%s's block on %d is %s, want %s", rest[0], dpid, got, rest[2])
		}
	case "event", "noevent":
		found := false
		for _, ev := range s.events {
			if string(ev.Type) == rest[0] && (m["reason"] == "" || ev.Reason == m["reason"]) {
				found = true
			}
		}
		if found != (args[0] == "event") {
			var types []string
			for _, ev := range s.events {
				types = append(types, string(ev.Type)+"("+ev.Reason+")")
			}
			s.errorf("%s %s %v: events since the last were %v", args[0], rest[0], m, types)
		}
		s.events = nil
	case "notice":
		ip := s.addrs(rest[0])[0]
		if !slices.ContainsFunc(s.notices, func(n Notice) bool { return n.Victim == ip }) {
			s.errorf("no notice to %s", ip)
		}
		s.notices = nil
	case "writes":
		if s.writes != int(s.num(rest[0])) {
			s.errorf("%d store writes, want %s", s.writes, rest[0])
		}
		s.writes = 0
	case "release":
		dpid := s.num(rest[0])
		mac := s.macOf(rest[1])
		if !slices.ContainsFunc(s.releases, func(r Release) bool { return r.DPID == dpid && r.MAC == mac }) {
			s.errorf("no release of %s on %d: %+v", rest[1], dpid, s.releases)
		}
	default:
		if !s.floodExpect(args[0], m, rest) {
			s.fatalf("unknown expectation %q", args[0])
		}
	}
}

// storedRecord is the block record another instance wrote: stored ID ip=A|mac=NAME [dur=SECS] [ips=A,B].
func (s *engScenario) storedRecord(args []string) BlockRecord {
	m, rest := kv(args)
	if len(rest) != 1 {
		s.fatalf("stored ID ip=A|mac=NAME [dur=SECS]")
	}
	b := Block{ID: rest[0], Kind: "manual", Reason: "blocked by operator", Created: s.now, Scope: ScopeNetwork,
		Expires: s.now.Add(600 * time.Second)}
	if v, ok := m["dur"]; ok {
		b.Expires = s.now.Add(s.secs(v))
	}
	if v, ok := m["mac"]; ok {
		b.Source.MAC = s.macOf(v)
	}
	if v, ok := m["ip"]; ok {
		b.IPs = s.addrs(v)
	}
	if v, ok := m["ips"]; ok {
		b.IPs = append(b.IPs, s.addrs(v)...)
	}
	b.IPBound = len(b.IPs) > 0
	return BlockRecord{Block: b, AllIPs: b.IPs}
}

func (s *engScenario) describe() string {
	var out []string
	for _, b := range s.e.Blocks() {
		blk := b.Record.Block
		out = append(out, fmt.Sprintf("%s{%s %d:%d %s portwide=%v spoofed=%v ips=%v level=%d}", blk.ID, blk.Kind,
			blk.Source.DPID, blk.Source.Port, s.nameOf(blk.Source.MAC), blk.PortWide, blk.Spoofed, blk.IPs, blk.Level))
	}
	return "[" + strings.Join(out, " ") + "]"
}
