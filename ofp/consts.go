package ofp

// Reserved port numbers (enum ofp_port_no).
const (
	PortMax        uint32 = 0xffffff00 // OFPP_MAX: the last usable physical port number
	PortInPort     uint32 = 0xfffffff8 // OFPP_IN_PORT
	PortTable      uint32 = 0xfffffff9 // OFPP_TABLE
	PortNormal     uint32 = 0xfffffffa // OFPP_NORMAL
	PortFlood      uint32 = 0xfffffffb // OFPP_FLOOD
	PortAll        uint32 = 0xfffffffc // OFPP_ALL
	PortController uint32 = 0xfffffffd // OFPP_CONTROLLER
	PortLocal      uint32 = 0xfffffffe // OFPP_LOCAL
	PortAny        uint32 = 0xffffffff // OFPP_ANY
)

// Buffers and controller output lengths.
const (
	NoBuffer                 uint32 = 0xffffffff // OFP_NO_BUFFER
	ControllerMaxLenNoBuffer uint16 = 0xffff     // OFPCML_NO_BUFFER
	ControllerMaxLenMax      uint16 = 0xffe5     // OFPCML_MAX
)

// Reserved meter ids (enum ofp_meter, OpenFlow 1.3.5 section 7.3.4.4).
const (
	MeterMax        uint32 = 0xffff0000 // OFPM_MAX
	MeterSlowpath   uint32 = 0xfffffffd // OFPM_SLOWPATH
	MeterController uint32 = 0xfffffffe // OFPM_CONTROLLER
	MeterAll        uint32 = 0xffffffff // OFPM_ALL
)

// Reserved group ids (enum ofp_group).
const (
	GroupMax uint32 = 0xffffff00 // OFPG_MAX
	GroupAll uint32 = 0xfffffffc // OFPG_ALL
	GroupAny uint32 = 0xffffffff // OFPG_ANY
)

// Reserved table ids (enum ofp_table).
const (
	TableMax uint8 = 0xfe // OFPTT_MAX
	TableAll uint8 = 0xff // OFPTT_ALL
)

// Switch capabilities (enum ofp_capabilities), FeaturesReply.Capabilities.
const (
	CapFlowStats   uint32 = 1 << 0 // OFPC_FLOW_STATS
	CapTableStats  uint32 = 1 << 1 // OFPC_TABLE_STATS
	CapPortStats   uint32 = 1 << 2 // OFPC_PORT_STATS
	CapGroupStats  uint32 = 1 << 3 // OFPC_GROUP_STATS
	CapIPReasm     uint32 = 1 << 5 // OFPC_IP_REASM
	CapQueueStats  uint32 = 1 << 6 // OFPC_QUEUE_STATS
	CapPortBlocked uint32 = 1 << 8 // OFPC_PORT_BLOCKED
)

// Switch configuration flags (enum ofp_config_flags), SetConfig.Flags.
const (
	ConfigFragNormal uint16 = 0 // OFPC_FRAG_NORMAL
	ConfigFragDrop   uint16 = 1 // OFPC_FRAG_DROP
	ConfigFragReasm  uint16 = 2 // OFPC_FRAG_REASM
	ConfigFragMask   uint16 = 3 // OFPC_FRAG_MASK
)

// Packet-in reasons (enum ofp_packet_in_reason).
const (
	PacketInReasonNoMatch    uint8 = 0 // OFPR_NO_MATCH
	PacketInReasonAction     uint8 = 1 // OFPR_ACTION
	PacketInReasonInvalidTTL uint8 = 2 // OFPR_INVALID_TTL
)

// Flow-removed reasons (enum ofp_flow_removed_reason).
const (
	FlowRemovedReasonIdleTimeout uint8 = 0 // OFPRR_IDLE_TIMEOUT
	FlowRemovedReasonHardTimeout uint8 = 1 // OFPRR_HARD_TIMEOUT
	FlowRemovedReasonDelete      uint8 = 2 // OFPRR_DELETE
	FlowRemovedReasonGroupDelete uint8 = 3 // OFPRR_GROUP_DELETE
)

// Port-status reasons (enum ofp_port_reason).
const (
	PortReasonAdd    uint8 = 0 // OFPPR_ADD
	PortReasonDelete uint8 = 1 // OFPPR_DELETE
	PortReasonModify uint8 = 2 // OFPPR_MODIFY
)

// Port configuration bits (enum ofp_port_config), Port.Config.
const (
	PortConfigPortDown   uint32 = 1 << 0 // OFPPC_PORT_DOWN
	PortConfigNoRecv     uint32 = 1 << 2 // OFPPC_NO_RECV
	PortConfigNoFwd      uint32 = 1 << 5 // OFPPC_NO_FWD
	PortConfigNoPacketIn uint32 = 1 << 6 // OFPPC_NO_PACKET_IN
)

// Port state bits (enum ofp_port_state), Port.State.
const (
	PortStateLinkDown uint32 = 1 << 0 // OFPPS_LINK_DOWN
	PortStateBlocked  uint32 = 1 << 1 // OFPPS_BLOCKED
	PortStateLive     uint32 = 1 << 2 // OFPPS_LIVE
)

// Port feature bits (enum ofp_port_features), Port.Curr/Advertised/Supported/Peer.
const (
	PortFeature10MBHD    uint32 = 1 << 0  // OFPPF_10MB_HD
	PortFeature10MBFD    uint32 = 1 << 1  // OFPPF_10MB_FD
	PortFeature100MBHD   uint32 = 1 << 2  // OFPPF_100MB_HD
	PortFeature100MBFD   uint32 = 1 << 3  // OFPPF_100MB_FD
	PortFeature1GBHD     uint32 = 1 << 4  // OFPPF_1GB_HD
	PortFeature1GBFD     uint32 = 1 << 5  // OFPPF_1GB_FD
	PortFeature10GBFD    uint32 = 1 << 6  // OFPPF_10GB_FD
	PortFeature40GBFD    uint32 = 1 << 7  // OFPPF_40GB_FD
	PortFeature100GBFD   uint32 = 1 << 8  // OFPPF_100GB_FD
	PortFeature1TBFD     uint32 = 1 << 9  // OFPPF_1TB_FD
	PortFeatureOther     uint32 = 1 << 10 // OFPPF_OTHER
	PortFeatureCopper    uint32 = 1 << 11 // OFPPF_COPPER
	PortFeatureFiber     uint32 = 1 << 12 // OFPPF_FIBER
	PortFeatureAutoneg   uint32 = 1 << 13 // OFPPF_AUTONEG
	PortFeaturePause     uint32 = 1 << 14 // OFPPF_PAUSE
	PortFeaturePauseAsym uint32 = 1 << 15 // OFPPF_PAUSE_ASYM
)

// FlowModCommand is the command of a FlowMod (enum ofp_flow_mod_command).
type FlowModCommand uint8

// Flow-mod commands.
const (
	FlowAdd          FlowModCommand = 0 // OFPFC_ADD
	FlowModify       FlowModCommand = 1 // OFPFC_MODIFY
	FlowModifyStrict FlowModCommand = 2 // OFPFC_MODIFY_STRICT
	FlowDelete       FlowModCommand = 3 // OFPFC_DELETE
	FlowDeleteStrict FlowModCommand = 4 // OFPFC_DELETE_STRICT
)

// Flow-mod flags (enum ofp_flow_mod_flags), FlowMod.Flags and FlowStats.Flags.
const (
	FlowFlagSendFlowRem  uint16 = 1 << 0 // OFPFF_SEND_FLOW_REM
	FlowFlagCheckOverlap uint16 = 1 << 1 // OFPFF_CHECK_OVERLAP
	FlowFlagResetCounts  uint16 = 1 << 2 // OFPFF_RESET_COUNTS
	FlowFlagNoPktCounts  uint16 = 1 << 3 // OFPFF_NO_PKT_COUNTS
	FlowFlagNoBytCounts  uint16 = 1 << 4 // OFPFF_NO_BYT_COUNTS
)

// Group-mod commands (enum ofp_group_mod_command) and group types (enum ofp_group_type).
const (
	GroupAdd    uint16 = 0 // OFPGC_ADD
	GroupModify uint16 = 1 // OFPGC_MODIFY
	GroupDelete uint16 = 2 // OFPGC_DELETE

	GroupTypeAll      uint8 = 0 // OFPGT_ALL
	GroupTypeSelect   uint8 = 1 // OFPGT_SELECT
	GroupTypeIndirect uint8 = 2 // OFPGT_INDIRECT
	GroupTypeFF       uint8 = 3 // OFPGT_FF
)

// Meter-mod commands (enum ofp_meter_mod_command), flags (enum ofp_meter_flags) and band types
// (enum ofp_meter_band_type).
const (
	MeterAdd    uint16 = 0 // OFPMC_ADD
	MeterModify uint16 = 1 // OFPMC_MODIFY
	MeterDelete uint16 = 2 // OFPMC_DELETE

	MeterFlagKbps  uint16 = 1 << 0 // OFPMF_KBPS
	MeterFlagPktps uint16 = 1 << 1 // OFPMF_PKTPS
	MeterFlagBurst uint16 = 1 << 2 // OFPMF_BURST
	MeterFlagStats uint16 = 1 << 3 // OFPMF_STATS

	MeterBandDrop         uint16 = 1      // OFPMBT_DROP
	MeterBandDSCPRemark   uint16 = 2      // OFPMBT_DSCP_REMARK
	MeterBandExperimenter uint16 = 0xffff // OFPMBT_EXPERIMENTER
)

// Table configuration (OFPTC_DEPRECATED_MASK), TableMod.Config.
const TableConfigDeprecatedMask uint32 = 3

// Controller roles (enum ofp_controller_role).
const (
	ControllerRoleNoChange uint32 = 0 // OFPCR_ROLE_NOCHANGE
	ControllerRoleEqual    uint32 = 1 // OFPCR_ROLE_EQUAL
	ControllerRoleMaster   uint32 = 2 // OFPCR_ROLE_MASTER
	ControllerRoleSlave    uint32 = 3 // OFPCR_ROLE_SLAVE
)

// Multipart flags (enum ofp_multipart_request_flags / ofp_multipart_reply_flags).
const (
	MultipartRequestMore uint16 = 1 // OFPMPF_REQ_MORE
	MultipartReplyMore   uint16 = 1 // OFPMPF_REPLY_MORE
)

// VLAN id bits (enum ofp_vlan_id), for the OXM VLAN_VID value.
const (
	VIDPresent uint16 = 0x1000 // OFPVID_PRESENT
	VIDNone    uint16 = 0x0000 // OFPVID_NONE
)

// Hello element types (enum ofp_hello_elem_type).
const HelloElemVersionBitmap uint16 = 1 // OFPHET_VERSIONBITMAP
