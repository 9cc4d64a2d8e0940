package policy

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"portcullis/internal/detect"
	"portcullis/ofp"
)

// SYN floods in the engine scenarios (testdata/engine/flood_*.txt). The harness plays the
// switches' SYN counters: each source sends SYNs at a rate from the time it is set, the port's
// counter counts every SYN entering the port, and a station counter the engine asked for
// (Ready.Flows) counts its station's SYNs from when it was installed until its hard timeout.
// Lines (besides engine_scenario_test.go's):
//
//	config synrate=N sustain=SECS     the SYN-flood rule (default off)
//	syn NAME RATE [on=DPID] [mac=NAME2]
//	                              NAME's station sends RATE SYNs/s from now (at its port; with
//	                              mac, frames with NAME2's MAC)
//	syn DPID:PORT RATE            SYNs/s at the port from a station never learned
//	nocount DPID PORT             the port's counter flows are removed (the port went away)
//	read DPID                     the switch's counters are read now (Engine.SYNCounters)
//	forwarder NAME                the detector says NAME's source forwards for other addresses
//	expect counter DPID NAME      a live station counter counts NAME's MAC on DPID
//	expect nocounter DPID         no station counter was asked for on DPID
//	expect floodverdicts N        N flood verdicts made so far
//	expect synrate DPID N         the last reading of DPID had a top port rate of N (+-1)

type synSrc struct {
	dpid uint64
	port uint32
	mac  [6]byte
}

type scenCounter struct {
	dpid  uint64
	id    uint32
	port  uint32
	mac   [6]byte
	base  float64
	until time.Time
}

type floodScen struct {
	cfg      detect.FloodConfig
	at       time.Time
	rate     map[synSrc]float64
	total    map[synSrc]float64
	uncount  map[synSrc]bool // ports whose counter flows are gone (mac zero)
	counters []scenCounter
	asked    map[uint64]int
	fwd      map[[6]byte]bool
	verdicts int
	top      map[uint64]float64
}

func (s *engScenario) floodEngine(cfg *EngineConfig) {
	cfg.Flood = s.fl.cfg
	cfg.Senders = scenSenders{s}
}

type scenSenders struct{ s *engScenario }

func (x scenSenders) Forwarder(src detect.Source) bool { return x.s.fl.fwd[src.MAC] }
func (x scenSenders) TargetsOf(detect.Source) []netip.Addr {
	return nil
}

func (s *engScenario) floodConfig(k, v string) bool {
	switch k {
	case "synrate":
		s.fl.cfg.SYNRate = float64(s.num(v))
	case "sustain":
		s.fl.cfg.Sustain = s.secs(v)
	default:
		return false
	}
	return true
}

// advance brings the sources' SYN totals to now.
func (s *engScenario) advance() {
	if s.fl.rate == nil {
		s.fl.rate, s.fl.total, s.fl.uncount = map[synSrc]float64{}, map[synSrc]float64{}, map[synSrc]bool{}
		s.fl.asked, s.fl.fwd, s.fl.top = map[uint64]int{}, map[[6]byte]bool{}, map[uint64]float64{}
		s.fl.at = s.now
	}
	dt := s.now.Sub(s.fl.at).Seconds()
	if dt > 0 {
		for k, r := range s.fl.rate {
			s.fl.total[k] += r * dt
		}
	}
	s.fl.at = s.now
}

// sent is the SYNs counted at (dpid, port), of MAC mac only unless any.
func (s *engScenario) sent(dpid uint64, port uint32, mac [6]byte, any bool) float64 {
	var n float64
	for k, t := range s.fl.total {
		if k.dpid == dpid && k.port == port && (any || k.mac == mac) {
			n += t
		}
	}
	return n
}

func (s *engScenario) floodDo(cmd string, args []string) bool {
	s.advance()
	switch cmd {
	case "syn":
		m, rest := kv(args)
		if len(rest) != 2 {
			s.fatalf("syn NAME|DPID:PORT RATE [on=DPID] [mac=NAME2]")
		}
		var k synSrc
		if d, p, ok := strings.Cut(rest[0], ":"); ok {
			k = synSrc{dpid: s.num(d), port: uint32(s.num(p))}
		} else {
			var on uint64
			if v, ok := m["on"]; ok {
				on = s.num(v)
			}
			st := s.station(rest[0], on)
			k = synSrc{dpid: st.dpid, port: st.port, mac: st.mac}
			if v, ok := m["mac"]; ok {
				k.mac = s.macOf(v)
			}
		}
		r, err := strconv.ParseFloat(rest[1], 64)
		if err != nil {
			s.fatalf("bad rate %q", rest[1])
		}
		s.fl.rate[k] = r
		if _, ok := s.fl.total[k]; !ok {
			s.fl.total[k] = 0
		}
	case "nocount":
		s.fl.uncount[synSrc{dpid: s.num(args[0]), port: uint32(s.num(args[1]))}] = true
	case "forwarder":
		s.fl.fwd[s.macOf(args[0])] = true
	case "read":
		dpid := s.num(args[0])
		tb := s.tables[dpid]
		var stats []ofp.FlowStats
		ports := map[uint32]bool{}
		for k := range s.fl.total {
			if k.dpid == dpid && !s.fl.uncount[synSrc{dpid: dpid, port: k.port}] {
				ports[k.port] = true
			}
		}
		for _, st := range s.live(dpid) {
			if !s.fl.uncount[synSrc{dpid: dpid, port: st.port}] {
				ports[st.port] = true
			}
		}
		for p := range ports {
			// The IPv4 and IPv6 flows of the port: the v6 one counts nothing here.
			stats = append(stats, ofp.FlowStats{Cookie: SYNCountCookie(p), PacketCount: uint64(s.sent(dpid, p, [6]byte{}, true))},
				ofp.FlowStats{Cookie: SYNCountCookie(p)})
		}
		s.fl.counters = slices.DeleteFunc(s.fl.counters, func(c scenCounter) bool { return !s.now.Before(c.until) })
		for _, c := range s.fl.counters {
			if c.dpid == dpid {
				stats = append(stats, ofp.FlowStats{Cookie: SYNCountStationCookie(c.id),
					PacketCount: uint64(s.sent(dpid, c.port, c.mac, false) - c.base)})
			}
		}
		s.e.SetSettings(s.set)
		s.fl.top[dpid] = s.e.SYNCounters(s.now, dpid, tb.epoch, stats)
	default:
		return false
	}
	return true
}

// floodApply installs the station counters a Ready asks for.
func (s *engScenario) floodApply(rd Ready) {
	s.fl.verdicts += len(rd.Verdicts)
	for _, f := range rd.Flows {
		tb := s.tables[f.DPID]
		if tb == nil || !tb.up || tb.epoch != f.Epoch {
			continue
		}
		s.advance()
		s.fl.asked[f.DPID]++
		for _, m := range f.Msgs {
			fm := m.(*ofp.FlowMod)
			id, ok := SYNCountStation(fm.Cookie)
			src, has := fm.Match.Get(ofp.OXMClassOpenflowBasic, ofp.OXMEthSrc)
			if !ok || !has || fm.HardTimeout == 0 || fm.Command != ofp.FlowAdd {
				s.errorf("not a station counter: %+v", fm)
				continue
			}
			var port uint32
			if in, ok := fm.Match.Get(ofp.OXMClassOpenflowBasic, ofp.OXMInPort); ok {
				port = uint32(in.Value[0])<<24 | uint32(in.Value[1])<<16 | uint32(in.Value[2])<<8 | uint32(in.Value[3])
			}
			mac := [6]byte(src.Value)
			if slices.ContainsFunc(s.fl.counters, func(c scenCounter) bool { return c.dpid == f.DPID && c.id == id }) {
				continue // the IPv6 flow of the same counter
			}
			s.fl.counters = append(s.fl.counters, scenCounter{dpid: f.DPID, id: id, port: port, mac: mac,
				base: s.sent(f.DPID, port, mac, false), until: s.now.Add(time.Duration(fm.HardTimeout) * time.Second)})
		}
	}
}

func (s *engScenario) floodExpect(what string, _ map[string]string, rest []string) bool {
	switch what {
	case "counter":
		dpid, mac := s.num(rest[0]), s.macOf(rest[1])
		if !slices.ContainsFunc(s.fl.counters, func(c scenCounter) bool {
			return c.dpid == dpid && c.mac == mac && s.now.Before(c.until)
		}) {
			s.errorf("no live station counter of %s on %d", rest[1], dpid)
		}
	case "nocounter":
		if n := s.fl.asked[s.num(rest[0])]; n > 0 {
			s.errorf("%d station counter installs on %s", n, rest[0])
		}
	case "floodverdicts":
		if s.fl.verdicts != int(s.num(rest[0])) {
			s.errorf("%d flood verdicts, want %s", s.fl.verdicts, rest[0])
		}
	case "synrate":
		want, _ := strconv.ParseFloat(rest[1], 64)
		if got := s.fl.top[s.num(rest[0])]; got < want-1 || got > want+1 {
			s.errorf("top SYN rate %v on %s, want %v", got, rest[0], want)
		}
	default:
		return false
	}
	return true
}
