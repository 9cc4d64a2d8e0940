package ofp

import "fmt"

// ErrorType is the type of an OFPT_ERROR message (enum ofp_error_type).
type ErrorType uint16

// Error types (OpenFlow 1.3.5 section 7.4.4).
const (
	ErrTypeHelloFailed         ErrorType = 0      // OFPET_HELLO_FAILED
	ErrTypeBadRequest          ErrorType = 1      // OFPET_BAD_REQUEST
	ErrTypeBadAction           ErrorType = 2      // OFPET_BAD_ACTION
	ErrTypeBadInstruction      ErrorType = 3      // OFPET_BAD_INSTRUCTION
	ErrTypeBadMatch            ErrorType = 4      // OFPET_BAD_MATCH
	ErrTypeFlowModFailed       ErrorType = 5      // OFPET_FLOW_MOD_FAILED
	ErrTypeGroupModFailed      ErrorType = 6      // OFPET_GROUP_MOD_FAILED
	ErrTypePortModFailed       ErrorType = 7      // OFPET_PORT_MOD_FAILED
	ErrTypeTableModFailed      ErrorType = 8      // OFPET_TABLE_MOD_FAILED
	ErrTypeQueueOpFailed       ErrorType = 9      // OFPET_QUEUE_OP_FAILED
	ErrTypeSwitchConfigFailed  ErrorType = 10     // OFPET_SWITCH_CONFIG_FAILED
	ErrTypeRoleRequestFailed   ErrorType = 11     // OFPET_ROLE_REQUEST_FAILED
	ErrTypeMeterModFailed      ErrorType = 12     // OFPET_METER_MOD_FAILED
	ErrTypeTableFeaturesFailed ErrorType = 13     // OFPET_TABLE_FEATURES_FAILED
	ErrTypeExperimenter        ErrorType = 0xffff // OFPET_EXPERIMENTER
)

// Error codes, one group per error type (enum ofp_hello_failed_code and friends).
const (
	HelloFailedIncompatible uint16 = 0 // OFPHFC_INCOMPATIBLE
	HelloFailedEPerm        uint16 = 1 // OFPHFC_EPERM

	BadRequestBadVersion              uint16 = 0  // OFPBRC_BAD_VERSION
	BadRequestBadType                 uint16 = 1  // OFPBRC_BAD_TYPE
	BadRequestBadMultipart            uint16 = 2  // OFPBRC_BAD_MULTIPART
	BadRequestBadExperimenter         uint16 = 3  // OFPBRC_BAD_EXPERIMENTER
	BadRequestBadExpType              uint16 = 4  // OFPBRC_BAD_EXP_TYPE
	BadRequestEPerm                   uint16 = 5  // OFPBRC_EPERM
	BadRequestBadLen                  uint16 = 6  // OFPBRC_BAD_LEN
	BadRequestBufferEmpty             uint16 = 7  // OFPBRC_BUFFER_EMPTY
	BadRequestBufferUnknown           uint16 = 8  // OFPBRC_BUFFER_UNKNOWN
	BadRequestBadTableID              uint16 = 9  // OFPBRC_BAD_TABLE_ID
	BadRequestIsSlave                 uint16 = 10 // OFPBRC_IS_SLAVE
	BadRequestBadPort                 uint16 = 11 // OFPBRC_BAD_PORT
	BadRequestBadPacket               uint16 = 12 // OFPBRC_BAD_PACKET
	BadRequestMultipartBufferOverflow uint16 = 13 // OFPBRC_MULTIPART_BUFFER_OVERFLOW

	BadActionBadType           uint16 = 0  // OFPBAC_BAD_TYPE
	BadActionBadLen            uint16 = 1  // OFPBAC_BAD_LEN
	BadActionBadExperimenter   uint16 = 2  // OFPBAC_BAD_EXPERIMENTER
	BadActionBadExpType        uint16 = 3  // OFPBAC_BAD_EXP_TYPE
	BadActionBadOutPort        uint16 = 4  // OFPBAC_BAD_OUT_PORT
	BadActionBadArgument       uint16 = 5  // OFPBAC_BAD_ARGUMENT
	BadActionEPerm             uint16 = 6  // OFPBAC_EPERM
	BadActionTooMany           uint16 = 7  // OFPBAC_TOO_MANY
	BadActionBadQueue          uint16 = 8  // OFPBAC_BAD_QUEUE
	BadActionBadOutGroup       uint16 = 9  // OFPBAC_BAD_OUT_GROUP
	BadActionMatchInconsistent uint16 = 10 // OFPBAC_MATCH_INCONSISTENT
	BadActionUnsupportedOrder  uint16 = 11 // OFPBAC_UNSUPPORTED_ORDER
	BadActionBadTag            uint16 = 12 // OFPBAC_BAD_TAG
	BadActionBadSetType        uint16 = 13 // OFPBAC_BAD_SET_TYPE
	BadActionBadSetLen         uint16 = 14 // OFPBAC_BAD_SET_LEN
	BadActionBadSetArgument    uint16 = 15 // OFPBAC_BAD_SET_ARGUMENT

	BadInstructionUnknownInst       uint16 = 0 // OFPBIC_UNKNOWN_INST
	BadInstructionUnsupInst         uint16 = 1 // OFPBIC_UNSUP_INST
	BadInstructionBadTableID        uint16 = 2 // OFPBIC_BAD_TABLE_ID
	BadInstructionUnsupMetadata     uint16 = 3 // OFPBIC_UNSUP_METADATA
	BadInstructionUnsupMetadataMask uint16 = 4 // OFPBIC_UNSUP_METADATA_MASK
	BadInstructionBadExperimenter   uint16 = 5 // OFPBIC_BAD_EXPERIMENTER
	BadInstructionBadExpType        uint16 = 6 // OFPBIC_BAD_EXP_TYPE
	BadInstructionBadLen            uint16 = 7 // OFPBIC_BAD_LEN
	BadInstructionEPerm             uint16 = 8 // OFPBIC_EPERM

	BadMatchBadType       uint16 = 0  // OFPBMC_BAD_TYPE
	BadMatchBadLen        uint16 = 1  // OFPBMC_BAD_LEN
	BadMatchBadTag        uint16 = 2  // OFPBMC_BAD_TAG
	BadMatchBadDLAddrMask uint16 = 3  // OFPBMC_BAD_DL_ADDR_MASK
	BadMatchBadNWAddrMask uint16 = 4  // OFPBMC_BAD_NW_ADDR_MASK
	BadMatchBadWildcards  uint16 = 5  // OFPBMC_BAD_WILDCARDS
	BadMatchBadField      uint16 = 6  // OFPBMC_BAD_FIELD
	BadMatchBadValue      uint16 = 7  // OFPBMC_BAD_VALUE
	BadMatchBadMask       uint16 = 8  // OFPBMC_BAD_MASK
	BadMatchBadPrereq     uint16 = 9  // OFPBMC_BAD_PREREQ
	BadMatchDupField      uint16 = 10 // OFPBMC_DUP_FIELD
	BadMatchEPerm         uint16 = 11 // OFPBMC_EPERM

	FlowModFailedUnknown    uint16 = 0 // OFPFMFC_UNKNOWN
	FlowModFailedTableFull  uint16 = 1 // OFPFMFC_TABLE_FULL
	FlowModFailedBadTableID uint16 = 2 // OFPFMFC_BAD_TABLE_ID
	FlowModFailedOverlap    uint16 = 3 // OFPFMFC_OVERLAP
	FlowModFailedEPerm      uint16 = 4 // OFPFMFC_EPERM
	FlowModFailedBadTimeout uint16 = 5 // OFPFMFC_BAD_TIMEOUT
	FlowModFailedBadCommand uint16 = 6 // OFPFMFC_BAD_COMMAND
	FlowModFailedBadFlags   uint16 = 7 // OFPFMFC_BAD_FLAGS

	GroupModFailedGroupExists         uint16 = 0  // OFPGMFC_GROUP_EXISTS
	GroupModFailedInvalidGroup        uint16 = 1  // OFPGMFC_INVALID_GROUP
	GroupModFailedWeightUnsupported   uint16 = 2  // OFPGMFC_WEIGHT_UNSUPPORTED
	GroupModFailedOutOfGroups         uint16 = 3  // OFPGMFC_OUT_OF_GROUPS
	GroupModFailedOutOfBuckets        uint16 = 4  // OFPGMFC_OUT_OF_BUCKETS
	GroupModFailedChainingUnsupported uint16 = 5  // OFPGMFC_CHAINING_UNSUPPORTED
	GroupModFailedWatchUnsupported    uint16 = 6  // OFPGMFC_WATCH_UNSUPPORTED
	GroupModFailedLoop                uint16 = 7  // OFPGMFC_LOOP
	GroupModFailedUnknownGroup        uint16 = 8  // OFPGMFC_UNKNOWN_GROUP
	GroupModFailedChainedGroup        uint16 = 9  // OFPGMFC_CHAINED_GROUP
	GroupModFailedBadType             uint16 = 10 // OFPGMFC_BAD_TYPE
	GroupModFailedBadCommand          uint16 = 11 // OFPGMFC_BAD_COMMAND
	GroupModFailedBadBucket           uint16 = 12 // OFPGMFC_BAD_BUCKET
	GroupModFailedBadWatch            uint16 = 13 // OFPGMFC_BAD_WATCH
	GroupModFailedEPerm               uint16 = 14 // OFPGMFC_EPERM

	PortModFailedBadPort      uint16 = 0 // OFPPMFC_BAD_PORT
	PortModFailedBadHWAddr    uint16 = 1 // OFPPMFC_BAD_HW_ADDR
	PortModFailedBadConfig    uint16 = 2 // OFPPMFC_BAD_CONFIG
	PortModFailedBadAdvertise uint16 = 3 // OFPPMFC_BAD_ADVERTISE
	PortModFailedEPerm        uint16 = 4 // OFPPMFC_EPERM

	TableModFailedBadTable  uint16 = 0 // OFPTMFC_BAD_TABLE
	TableModFailedBadConfig uint16 = 1 // OFPTMFC_BAD_CONFIG
	TableModFailedEPerm     uint16 = 2 // OFPTMFC_EPERM

	QueueOpFailedBadPort  uint16 = 0 // OFPQOFC_BAD_PORT
	QueueOpFailedBadQueue uint16 = 1 // OFPQOFC_BAD_QUEUE
	QueueOpFailedEPerm    uint16 = 2 // OFPQOFC_EPERM

	SwitchConfigFailedBadFlags uint16 = 0 // OFPSCFC_BAD_FLAGS
	SwitchConfigFailedBadLen   uint16 = 1 // OFPSCFC_BAD_LEN
	SwitchConfigFailedEPerm    uint16 = 2 // OFPSCFC_EPERM

	RoleRequestFailedStale   uint16 = 0 // OFPRRFC_STALE
	RoleRequestFailedUnsup   uint16 = 1 // OFPRRFC_UNSUP
	RoleRequestFailedBadRole uint16 = 2 // OFPRRFC_BAD_ROLE

	MeterModFailedUnknown      uint16 = 0  // OFPMMFC_UNKNOWN
	MeterModFailedMeterExists  uint16 = 1  // OFPMMFC_METER_EXISTS
	MeterModFailedInvalidMeter uint16 = 2  // OFPMMFC_INVALID_METER
	MeterModFailedUnknownMeter uint16 = 3  // OFPMMFC_UNKNOWN_METER
	MeterModFailedBadCommand   uint16 = 4  // OFPMMFC_BAD_COMMAND
	MeterModFailedBadFlags     uint16 = 5  // OFPMMFC_BAD_FLAGS
	MeterModFailedBadRate      uint16 = 6  // OFPMMFC_BAD_RATE
	MeterModFailedBadBurst     uint16 = 7  // OFPMMFC_BAD_BURST
	MeterModFailedBadBand      uint16 = 8  // OFPMMFC_BAD_BAND
	MeterModFailedBadBandValue uint16 = 9  // OFPMMFC_BAD_BAND_VALUE
	MeterModFailedOutOfMeters  uint16 = 10 // OFPMMFC_OUT_OF_METERS
	MeterModFailedOutOfBands   uint16 = 11 // OFPMMFC_OUT_OF_BANDS

	TableFeaturesFailedBadTable    uint16 = 0 // OFPTFFC_BAD_TABLE
	TableFeaturesFailedBadMetadata uint16 = 1 // OFPTFFC_BAD_METADATA
	TableFeaturesFailedBadType     uint16 = 2 // OFPTFFC_BAD_TYPE
	TableFeaturesFailedBadLen      uint16 = 3 // OFPTFFC_BAD_LEN
	TableFeaturesFailedBadArgument uint16 = 4 // OFPTFFC_BAD_ARGUMENT
	TableFeaturesFailedEPerm       uint16 = 5 // OFPTFFC_EPERM
)

type errorTypeInfo struct {
	name  string
	codes []string
}

var errorTypes = [...]errorTypeInfo{
	{"OFPET_HELLO_FAILED", []string{"OFPHFC_INCOMPATIBLE", "OFPHFC_EPERM"}},
	{"OFPET_BAD_REQUEST", []string{"OFPBRC_BAD_VERSION", "OFPBRC_BAD_TYPE", "OFPBRC_BAD_MULTIPART",
		"OFPBRC_BAD_EXPERIMENTER", "OFPBRC_BAD_EXP_TYPE", "OFPBRC_EPERM", "OFPBRC_BAD_LEN",
		"OFPBRC_BUFFER_EMPTY", "OFPBRC_BUFFER_UNKNOWN", "OFPBRC_BAD_TABLE_ID", "OFPBRC_IS_SLAVE",
		"OFPBRC_BAD_PORT", "OFPBRC_BAD_PACKET", "OFPBRC_MULTIPART_BUFFER_OVERFLOW"}},
	{"OFPET_BAD_ACTION", []string{"OFPBAC_BAD_TYPE", "OFPBAC_BAD_LEN", "OFPBAC_BAD_EXPERIMENTER",
		"OFPBAC_BAD_EXP_TYPE", "OFPBAC_BAD_OUT_PORT", "OFPBAC_BAD_ARGUMENT", "OFPBAC_EPERM",
		"OFPBAC_TOO_MANY", "OFPBAC_BAD_QUEUE", "OFPBAC_BAD_OUT_GROUP", "OFPBAC_MATCH_INCONSISTENT",
		"OFPBAC_UNSUPPORTED_ORDER", "OFPBAC_BAD_TAG", "OFPBAC_BAD_SET_TYPE", "OFPBAC_BAD_SET_LEN",
		"OFPBAC_BAD_SET_ARGUMENT"}},
	{"OFPET_BAD_INSTRUCTION", []string{"OFPBIC_UNKNOWN_INST", "OFPBIC_UNSUP_INST", "OFPBIC_BAD_TABLE_ID",
		"OFPBIC_UNSUP_METADATA", "OFPBIC_UNSUP_METADATA_MASK", "OFPBIC_BAD_EXPERIMENTER",
		"OFPBIC_BAD_EXP_TYPE", "OFPBIC_BAD_LEN", "OFPBIC_EPERM"}},
	{"OFPET_BAD_MATCH", []string{"OFPBMC_BAD_TYPE", "OFPBMC_BAD_LEN", "OFPBMC_BAD_TAG",
		"OFPBMC_BAD_DL_ADDR_MASK", "OFPBMC_BAD_NW_ADDR_MASK", "OFPBMC_BAD_WILDCARDS", "OFPBMC_BAD_FIELD",
		"OFPBMC_BAD_VALUE", "OFPBMC_BAD_MASK", "OFPBMC_BAD_PREREQ", "OFPBMC_DUP_FIELD", "OFPBMC_EPERM"}},
	{"OFPET_FLOW_MOD_FAILED", []string{"OFPFMFC_UNKNOWN", "OFPFMFC_TABLE_FULL", "OFPFMFC_BAD_TABLE_ID",
		"OFPFMFC_OVERLAP", "OFPFMFC_EPERM", "OFPFMFC_BAD_TIMEOUT", "OFPFMFC_BAD_COMMAND",
		"OFPFMFC_BAD_FLAGS"}},
	{"OFPET_GROUP_MOD_FAILED", []string{"OFPGMFC_GROUP_EXISTS", "OFPGMFC_INVALID_GROUP",
		"OFPGMFC_WEIGHT_UNSUPPORTED", "OFPGMFC_OUT_OF_GROUPS", "OFPGMFC_OUT_OF_BUCKETS",
		"OFPGMFC_CHAINING_UNSUPPORTED", "OFPGMFC_WATCH_UNSUPPORTED", "OFPGMFC_LOOP",
		"OFPGMFC_UNKNOWN_GROUP", "OFPGMFC_CHAINED_GROUP", "OFPGMFC_BAD_TYPE", "OFPGMFC_BAD_COMMAND",
		"OFPGMFC_BAD_BUCKET", "OFPGMFC_BAD_WATCH", "OFPGMFC_EPERM"}},
	{"OFPET_PORT_MOD_FAILED", []string{"OFPPMFC_BAD_PORT", "OFPPMFC_BAD_HW_ADDR", "OFPPMFC_BAD_CONFIG",
		"OFPPMFC_BAD_ADVERTISE", "OFPPMFC_EPERM"}},
	{"OFPET_TABLE_MOD_FAILED", []string{"OFPTMFC_BAD_TABLE", "OFPTMFC_BAD_CONFIG", "OFPTMFC_EPERM"}},
	{"OFPET_QUEUE_OP_FAILED", []string{"OFPQOFC_BAD_PORT", "OFPQOFC_BAD_QUEUE", "OFPQOFC_EPERM"}},
	{"OFPET_SWITCH_CONFIG_FAILED", []string{"OFPSCFC_BAD_FLAGS", "OFPSCFC_BAD_LEN", "OFPSCFC_EPERM"}},
	{"OFPET_ROLE_REQUEST_FAILED", []string{"OFPRRFC_STALE", "OFPRRFC_UNSUP", "OFPRRFC_BAD_ROLE"}},
	{"OFPET_METER_MOD_FAILED", []string{"OFPMMFC_UNKNOWN", "OFPMMFC_METER_EXISTS", "OFPMMFC_INVALID_METER",
		"OFPMMFC_UNKNOWN_METER", "OFPMMFC_BAD_COMMAND", "OFPMMFC_BAD_FLAGS", "OFPMMFC_BAD_RATE",
		"OFPMMFC_BAD_BURST", "OFPMMFC_BAD_BAND", "OFPMMFC_BAD_BAND_VALUE", "OFPMMFC_OUT_OF_METERS",
		"OFPMMFC_OUT_OF_BANDS"}},
	{"OFPET_TABLE_FEATURES_FAILED", []string{"OFPTFFC_BAD_TABLE", "OFPTFFC_BAD_METADATA", "OFPTFFC_BAD_TYPE",
		"OFPTFFC_BAD_LEN", "OFPTFFC_BAD_ARGUMENT", "OFPTFFC_EPERM"}},
}

// String returns the spec name of t ("OFPET_BAD_REQUEST").
func (t ErrorType) String() string {
	if int(t) < len(errorTypes) {
		return errorTypes[t].name
	}
	if t == ErrTypeExperimenter {
		return "OFPET_EXPERIMENTER"
	}
	return fmt.Sprintf("OFPET_UNKNOWN(%d)", uint16(t))
}

// ErrorCodeString names code within error type t ("OFPBRC_BAD_LEN"), or gives the number.
func ErrorCodeString(t ErrorType, code uint16) string {
	if int(t) < len(errorTypes) && int(code) < len(errorTypes[t].codes) {
		return errorTypes[t].codes[code]
	}
	return fmt.Sprintf("code(%d)", code)
}
