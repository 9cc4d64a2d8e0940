// A throwaway controller: sends one of every message to a real OVS and records what comes back.
package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"portcullis/ofp"
)

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:16653")
	if err != nil {
		panic(err)
	}
	c, err := ln.Accept()
	if err != nil {
		panic(err)
	}
	out, _ := os.Create("recv.txt")
	go func() {
		hdr := make([]byte, 8)
		for {
			if _, err := io.ReadFull(c, hdr); err != nil {
				return
			}
			n := binary.BigEndian.Uint16(hdr[2:])
			msg := make([]byte, n)
			copy(msg, hdr)
			if _, err := io.ReadFull(c, msg[8:]); err != nil {
				return
			}
			h, m, err := ofp.Unmarshal(msg)
			desc := fmt.Sprintf("%T", m)
			if e, ok := m.(*ofp.Error); ok {
				desc += " " + e.String()
			}
			if r, ok := m.(*ofp.MultipartReply); ok {
				desc += fmt.Sprintf(" %v more=%v", r.Body.MultipartType(), r.More())
			}
			fmt.Fprintf(out, "%d %v %s err=%v %x\n", h.Xid, h.Type, desc, err, msg)
		}
	}()
	send := func(xid uint32, m ofp.Message) {
		if _, err := c.Write(ofp.Marshal(xid, m)); err != nil {
			panic(err)
		}
	}
	arp, _ := (func() ([]byte, error) {
		return []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x08, 0x06,
			0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55,
			10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2}, nil
	})()
	any := func() (uint32, uint32, uint32) { return ofp.NoBuffer, ofp.PortAny, ofp.GroupAny }
	nb, pa, ga := any()
	send(1, ofp.NewHello(ofp.Version))
	send(2, &ofp.FeaturesRequest{})
	send(3, &ofp.MultipartRequest{Body: &ofp.PortDescRequest{}})
	send(4, &ofp.MultipartRequest{Body: &ofp.DescRequest{}})
	send(5, &ofp.SetConfig{MissSendLen: ofp.ControllerMaxLenNoBuffer})
	send(6, &ofp.FlowMod{Command: ofp.FlowAdd, BufferID: nb, OutPort: pa, OutGroup: ga,
		Instructions: []ofp.Instruction{&ofp.InstrApplyActions{Actions: []ofp.Action{&ofp.ActionOutput{Port: ofp.PortController, MaxLen: ofp.ControllerMaxLenNoBuffer}}}}})
	send(7, &ofp.MeterMod{Command: ofp.MeterAdd, Flags: ofp.MeterFlagPktps | ofp.MeterFlagStats, MeterID: 1,
		Bands: []ofp.MeterBand{{Type: ofp.MeterBandDrop, Rate: 100}}})
	send(8, &ofp.FlowMod{Cookie: 0x5043, Command: ofp.FlowAdd, Priority: 100, HardTimeout: 1, Flags: ofp.FlowFlagSendFlowRem,
		BufferID: nb, OutPort: pa, OutGroup: ga,
		Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchEthType(0x0800), ofp.MatchIPv4Src(netip.MustParseAddr("10.0.0.1")),
			ofp.MatchIPProto(6), ofp.MatchTCPFlags(ofp.TCPFlagSYN, ofp.TCPFlagSYN|ofp.TCPFlagACK)}},
		Instructions: []ofp.Instruction{&ofp.InstrMeter{MeterID: 1}, &ofp.InstrApplyActions{}}})
	send(9, &ofp.FlowMod{Cookie: 0x5044, TableID: 0, Command: ofp.FlowAdd, Priority: 50, BufferID: nb, OutPort: pa, OutGroup: ga,
		Match:        ofp.Match{Fields: []ofp.OXM{ofp.MatchEthType(0x86dd), ofp.MatchIPv6SrcPrefix(netip.MustParsePrefix("2001:db8::/32"))}},
		Instructions: []ofp.Instruction{&ofp.InstrWriteMetadata{Metadata: 1, Mask: 1}, &ofp.InstrGotoTable{TableID: 1}}})
	send(10, &ofp.GroupMod{Command: ofp.GroupAdd, GroupType: ofp.GroupTypeAll, GroupID: 1,
		Buckets: []ofp.Bucket{{WatchPort: pa, WatchGroup: ga, Actions: []ofp.Action{&ofp.ActionOutput{Port: ofp.PortLocal}}}}})
	send(11, &ofp.PacketOut{BufferID: nb, InPort: ofp.PortController, Actions: []ofp.Action{&ofp.ActionOutput{Port: ofp.PortTable}}, Data: arp})
	send(12, &ofp.PacketOut{BufferID: nb, InPort: ofp.PortController, Actions: []ofp.Action{&ofp.ActionOutput{Port: ofp.PortController, MaxLen: 0xffff}}, Data: arp})
	send(13, &ofp.BarrierRequest{})
	time.Sleep(300 * time.Millisecond)
	send(20, &ofp.MultipartRequest{Body: &ofp.FlowStatsRequest{TableID: ofp.TableAll, OutPort: pa, OutGroup: ga}})
	send(21, &ofp.MultipartRequest{Body: &ofp.AggregateStatsRequest{TableID: ofp.TableAll, OutPort: pa, OutGroup: ga}})
	send(22, &ofp.MultipartRequest{Body: &ofp.TableStatsRequest{}})
	send(23, &ofp.MultipartRequest{Body: &ofp.PortStatsRequest{PortNo: pa}})
	send(24, &ofp.MultipartRequest{Body: &ofp.GroupDescRequest{}})
	send(25, &ofp.MultipartRequest{Body: &ofp.MeterStatsRequest{MeterID: ofp.MeterAll}})
	send(26, &ofp.MultipartRequest{Body: &ofp.MeterConfigRequest{MeterID: ofp.MeterAll}})
	send(27, &ofp.MultipartRequest{Body: &ofp.MeterFeaturesRequest{}})
	send(28, &ofp.RoleRequest{Role: ofp.ControllerRoleNoChange})
	send(29, &ofp.GetAsyncRequest{})
	send(30, &ofp.SetAsync{PacketInMask: [2]uint32{7, 0}, PortStatusMask: [2]uint32{7, 7}, FlowRemovedMask: [2]uint32{15, 0}})
	send(31, &ofp.GetConfigRequest{})
	send(32, &ofp.EchoRequest{Data: []byte("hi")})
	send(33, &ofp.TableMod{TableID: 0, Config: 0})
	send(34, &ofp.PortMod{PortNo: ofp.PortLocal, HWAddr: net.HardwareAddr{0, 0, 0, 0, 0, 0}, Config: 0, Mask: 0})
	send(35, &ofp.Experimenter{Experimenter: 0xabcdef, ExpType: 1})
	send(36, &ofp.Unknown{Kind: ofp.TypeQueueGetConfigRequest, Body: []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}})
	send(37, &ofp.FlowMod{Command: ofp.FlowAdd, BufferID: nb, OutPort: pa, OutGroup: ga,
		Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchTCPDst(80)}}}) // missing prerequisites: expect OFPBMC_BAD_PREREQ
	send(38, &ofp.BarrierRequest{})
	time.Sleep(4 * time.Second) // flow removed after hard timeout, port status from the shell
	send(39, &ofp.MultipartRequest{Body: &ofp.PortDescRequest{}})
	send(40, &ofp.BarrierRequest{})
	time.Sleep(500 * time.Millisecond)
	out.Sync()
}
