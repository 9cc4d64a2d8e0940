"""An os-ken app that behaves as os-ken's sample simple_switch_13 does.

Debian's python3-os-ken ships no sample apps, so `make bench-scale` runs
this one: on FEATURES_REPLY it installs a table-0 table-miss flow to the
controller; on each packet-in it learns the source MAC on its in_port, and
answers with a PACKET_OUT that floods the frame (unknown destination) or,
for a known destination, a FLOW_MOD (in_port, eth_src, eth_dst) and a
PACKET_OUT to its port. Like the sample, it logs each packet-in at INFO.

Run: osken-manager --ofp-listen-host 127.0.0.1 --ofp-tcp-listen-port PORT \
         scripts/bench/learning_switch_13.py
"""

from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import CONFIG_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from os_ken.lib.packet import ethernet, packet
from os_ken.ofproto import ofproto_v1_3


class LearningSwitch13(app_manager.OSKenApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ports = {}  # dpid -> {mac: port}

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def features(self, ev):
        dp = ev.msg.datapath
        ofp, parser = dp.ofproto, dp.ofproto_parser
        out = [parser.OFPActionOutput(ofp.OFPP_CONTROLLER, ofp.OFPCML_NO_BUFFER)]
        self.flow(dp, 0, parser.OFPMatch(), out)

    def flow(self, dp, priority, match, actions):
        ofp, parser = dp.ofproto, dp.ofproto_parser
        instr = [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, actions)]
        dp.send_msg(parser.OFPFlowMod(datapath=dp, priority=priority, match=match, instructions=instr))

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def packet_in(self, ev):
        msg = ev.msg
        dp = msg.datapath
        ofp, parser = dp.ofproto, dp.ofproto_parser
        in_port = msg.match["in_port"]
        eth = packet.Packet(msg.data).get_protocols(ethernet.ethernet)[0]
        self.logger.info("packet in %s %s %s %s", dp.id, eth.src, eth.dst, in_port)
        table = self.ports.setdefault(dp.id, {})
        table[eth.src] = in_port
        port = table.get(eth.dst, ofp.OFPP_FLOOD)
        actions = [parser.OFPActionOutput(port)]
        if port != ofp.OFPP_FLOOD:
            self.flow(dp, 1, parser.OFPMatch(in_port=in_port, eth_dst=eth.dst, eth_src=eth.src), actions)
        data = msg.data if msg.buffer_id == ofp.OFP_NO_BUFFER else None
        dp.send_msg(parser.OFPPacketOut(datapath=dp, buffer_id=msg.buffer_id, in_port=in_port,
                                        actions=actions, data=data))
