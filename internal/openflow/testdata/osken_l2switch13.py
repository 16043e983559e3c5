# An OpenFlow 1.3 learning switch for os-ken (OpenStack's Ryu fork), used
# by Switchyard's interop tests. On connect it installs a table-miss flow
# sending everything to the controller; on each packet-in it learns the
# source MAC, installs a flow to a known destination and sends the packet
# out. It prints one line per event so the test can follow it.
from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import CONFIG_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from os_ken.lib.packet import ethernet, packet
from os_ken.ofproto import ofproto_v1_3


class L2Switch13(app_manager.OSKenApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.macs = {}

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def features(self, ev):
        dp = ev.msg.datapath
        ofp, parser = dp.ofproto, dp.ofproto_parser
        print("SWITCH dpid=%016x n_tables=%d" % (dp.id, ev.msg.n_tables), flush=True)
        inst = [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS,
                [parser.OFPActionOutput(ofp.OFPP_CONTROLLER, ofp.OFPCML_NO_BUFFER)])]
        dp.send_msg(parser.OFPFlowMod(datapath=dp, priority=0, match=parser.OFPMatch(), instructions=inst))

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def packet_in(self, ev):
        msg = ev.msg
        dp = msg.datapath
        ofp, parser = dp.ofproto, dp.ofproto_parser
        in_port = msg.match['in_port']
        tun = msg.match.get('tunnel_id', None)
        eth = packet.Packet(msg.data).get_protocols(ethernet.ethernet)[0]
        print("PACKET_IN in_port=%d src=%s dst=%s reason=%d tunnel_id=%s len=%d" %
              (in_port, eth.src, eth.dst, msg.reason, tun, len(msg.data)), flush=True)
        macs = self.macs.setdefault(dp.id, {})
        macs[eth.src] = in_port
        out = macs.get(eth.dst, ofp.OFPP_FLOOD)
        actions = [parser.OFPActionOutput(out)]
        if out != ofp.OFPP_FLOOD:
            match = parser.OFPMatch(in_port=in_port, eth_dst=eth.dst, eth_src=eth.src)
            inst = [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, actions)]
            dp.send_msg(parser.OFPFlowMod(datapath=dp, priority=1, idle_timeout=60, match=match, instructions=inst))
        dp.send_msg(parser.OFPPacketOut(datapath=dp, buffer_id=ofp.OFP_NO_BUFFER, in_port=in_port,
                                        actions=actions, data=msg.data))
        print("PACKET_OUT out=%d" % out, flush=True)
