package ofp

import "fmt"

// ActionType is an action type (enum ofp_action_type).
type ActionType uint16

// Action types.
const (
	ActionTypeOutput       ActionType = 0      // OFPAT_OUTPUT
	ActionTypeCopyTTLOut   ActionType = 11     // OFPAT_COPY_TTL_OUT
	ActionTypeCopyTTLIn    ActionType = 12     // OFPAT_COPY_TTL_IN
	ActionTypeSetMPLSTTL   ActionType = 15     // OFPAT_SET_MPLS_TTL
	ActionTypeDecMPLSTTL   ActionType = 16     // OFPAT_DEC_MPLS_TTL
	ActionTypePushVLAN     ActionType = 17     // OFPAT_PUSH_VLAN
	ActionTypePopVLAN      ActionType = 18     // OFPAT_POP_VLAN
	ActionTypePushMPLS     ActionType = 19     // OFPAT_PUSH_MPLS
	ActionTypePopMPLS      ActionType = 20     // OFPAT_POP_MPLS
	ActionTypeSetQueue     ActionType = 21     // OFPAT_SET_QUEUE
	ActionTypeGroup        ActionType = 22     // OFPAT_GROUP
	ActionTypeSetNWTTL     ActionType = 23     // OFPAT_SET_NW_TTL
	ActionTypeDecNWTTL     ActionType = 24     // OFPAT_DEC_NW_TTL
	ActionTypeSetField     ActionType = 25     // OFPAT_SET_FIELD
	ActionTypePushPBB      ActionType = 26     // OFPAT_PUSH_PBB
	ActionTypePopPBB       ActionType = 27     // OFPAT_POP_PBB
	ActionTypeExperimenter ActionType = 0xffff // OFPAT_EXPERIMENTER
)

// Action is one OpenFlow action. The set is closed: the pointer types Action* of this package.
type Action interface {
	ActionType() ActionType
	// Len is the encoded length including the action header and padding.
	Len() int
	appendTo(b []byte) []byte
}

// ActionOutput sends the packet to a port; MaxLen bounds the bytes sent to the controller.
type ActionOutput struct {
	Port   uint32
	MaxLen uint16
}

// ActionCopyTTLOut copies the TTL outwards (OFPAT_COPY_TTL_OUT).
type ActionCopyTTLOut struct{}

// ActionCopyTTLIn copies the TTL inwards (OFPAT_COPY_TTL_IN).
type ActionCopyTTLIn struct{}

// ActionSetMPLSTTL sets the MPLS TTL.
type ActionSetMPLSTTL struct{ TTL uint8 }

// ActionDecMPLSTTL decrements the MPLS TTL.
type ActionDecMPLSTTL struct{}

// ActionPushVLAN pushes a VLAN tag with the given EtherType (0x8100 or 0x88a8).
type ActionPushVLAN struct{ EtherType uint16 }

// ActionPopVLAN pops the outer VLAN tag.
type ActionPopVLAN struct{}

// ActionPushMPLS pushes an MPLS shim header.
type ActionPushMPLS struct{ EtherType uint16 }

// ActionPopMPLS pops the outer MPLS shim header; EtherType is the payload's.
type ActionPopMPLS struct{ EtherType uint16 }

// ActionSetQueue sets the output queue.
type ActionSetQueue struct{ QueueID uint32 }

// ActionGroup processes the packet through a group.
type ActionGroup struct{ GroupID uint32 }

// ActionSetNWTTL sets the IP TTL.
type ActionSetNWTTL struct{ TTL uint8 }

// ActionDecNWTTL decrements the IP TTL.
type ActionDecNWTTL struct{}

// ActionSetField sets a header field to the (unmasked) OXM's value.
type ActionSetField struct{ Field OXM }

// ActionPushPBB pushes a PBB service tag.
type ActionPushPBB struct{ EtherType uint16 }

// ActionPopPBB pops the outer PBB service tag.
type ActionPopPBB struct{}

// ActionExperimenter is an experimenter action; Data follows the experimenter id and is padded to 8 by
// the encoder (so decoded Data includes any padding).
type ActionExperimenter struct {
	Experimenter uint32
	Data         []byte
}

func (*ActionOutput) ActionType() ActionType       { return ActionTypeOutput }
func (*ActionCopyTTLOut) ActionType() ActionType   { return ActionTypeCopyTTLOut }
func (*ActionCopyTTLIn) ActionType() ActionType    { return ActionTypeCopyTTLIn }
func (*ActionSetMPLSTTL) ActionType() ActionType   { return ActionTypeSetMPLSTTL }
func (*ActionDecMPLSTTL) ActionType() ActionType   { return ActionTypeDecMPLSTTL }
func (*ActionPushVLAN) ActionType() ActionType     { return ActionTypePushVLAN }
func (*ActionPopVLAN) ActionType() ActionType      { return ActionTypePopVLAN }
func (*ActionPushMPLS) ActionType() ActionType     { return ActionTypePushMPLS }
func (*ActionPopMPLS) ActionType() ActionType      { return ActionTypePopMPLS }
func (*ActionSetQueue) ActionType() ActionType     { return ActionTypeSetQueue }
func (*ActionGroup) ActionType() ActionType        { return ActionTypeGroup }
func (*ActionSetNWTTL) ActionType() ActionType     { return ActionTypeSetNWTTL }
func (*ActionDecNWTTL) ActionType() ActionType     { return ActionTypeDecNWTTL }
func (*ActionSetField) ActionType() ActionType     { return ActionTypeSetField }
func (*ActionPushPBB) ActionType() ActionType      { return ActionTypePushPBB }
func (*ActionPopPBB) ActionType() ActionType       { return ActionTypePopPBB }
func (*ActionExperimenter) ActionType() ActionType { return ActionTypeExperimenter }

func (*ActionOutput) Len() int         { return 16 }
func (*ActionCopyTTLOut) Len() int     { return 8 }
func (*ActionCopyTTLIn) Len() int      { return 8 }
func (*ActionSetMPLSTTL) Len() int     { return 8 }
func (*ActionDecMPLSTTL) Len() int     { return 8 }
func (*ActionPushVLAN) Len() int       { return 8 }
func (*ActionPopVLAN) Len() int        { return 8 }
func (*ActionPushMPLS) Len() int       { return 8 }
func (*ActionPopMPLS) Len() int        { return 8 }
func (*ActionSetQueue) Len() int       { return 8 }
func (*ActionGroup) Len() int          { return 8 }
func (*ActionSetNWTTL) Len() int       { return 8 }
func (*ActionDecNWTTL) Len() int       { return 8 }
func (a *ActionSetField) Len() int     { return pad8(4 + a.Field.Len()) }
func (*ActionPushPBB) Len() int        { return 8 }
func (*ActionPopPBB) Len() int         { return 8 }
func (a *ActionExperimenter) Len() int { return pad8(8 + len(a.Data)) }

func actionHeader(b []byte, t ActionType, n int) []byte {
	b = be.AppendUint16(b, uint16(t))
	return be.AppendUint16(b, uint16(n))
}

// appendAction8 appends an 8-byte action whose 4 body bytes are given.
func appendAction8(b []byte, t ActionType, body [4]byte) []byte {
	b = actionHeader(b, t, 8)
	return append(b, body[:]...)
}

func ethBody(et uint16) [4]byte { return [4]byte{byte(et >> 8), byte(et)} }

func (a *ActionOutput) appendTo(b []byte) []byte {
	b = actionHeader(b, ActionTypeOutput, 16)
	b = be.AppendUint32(b, a.Port)
	b = be.AppendUint16(b, a.MaxLen)
	return append(b, 0, 0, 0, 0, 0, 0)
}
func (a *ActionCopyTTLOut) appendTo(b []byte) []byte {
	return appendAction8(b, ActionTypeCopyTTLOut, [4]byte{})
}
func (a *ActionCopyTTLIn) appendTo(b []byte) []byte {
	return appendAction8(b, ActionTypeCopyTTLIn, [4]byte{})
}
func (a *ActionSetMPLSTTL) appendTo(b []byte) []byte {
	return appendAction8(b, ActionTypeSetMPLSTTL, [4]byte{a.TTL})
}
func (a *ActionDecMPLSTTL) appendTo(b []byte) []byte {
	return appendAction8(b, ActionTypeDecMPLSTTL, [4]byte{})
}
func (a *ActionPushVLAN) appendTo(b []byte) []byte {
	return appendAction8(b, ActionTypePushVLAN, ethBody(a.EtherType))
}
func (a *ActionPopVLAN) appendTo(b []byte) []byte {
	return appendAction8(b, ActionTypePopVLAN, [4]byte{})
}
func (a *ActionPushMPLS) appendTo(b []byte) []byte {
	return appendAction8(b, ActionTypePushMPLS, ethBody(a.EtherType))
}
func (a *ActionPopMPLS) appendTo(b []byte) []byte {
	return appendAction8(b, ActionTypePopMPLS, ethBody(a.EtherType))
}
func (a *ActionSetQueue) appendTo(b []byte) []byte {
	b = actionHeader(b, ActionTypeSetQueue, 8)
	return be.AppendUint32(b, a.QueueID)
}
func (a *ActionGroup) appendTo(b []byte) []byte {
	b = actionHeader(b, ActionTypeGroup, 8)
	return be.AppendUint32(b, a.GroupID)
}
func (a *ActionSetNWTTL) appendTo(b []byte) []byte {
	return appendAction8(b, ActionTypeSetNWTTL, [4]byte{a.TTL})
}
func (a *ActionDecNWTTL) appendTo(b []byte) []byte {
	return appendAction8(b, ActionTypeDecNWTTL, [4]byte{})
}
func (a *ActionSetField) appendTo(b []byte) []byte {
	n := a.Len()
	b = actionHeader(b, ActionTypeSetField, n)
	b = a.Field.appendTo(b)
	return appendZeros(b, n-4-a.Field.Len())
}
func (a *ActionPushPBB) appendTo(b []byte) []byte {
	return appendAction8(b, ActionTypePushPBB, ethBody(a.EtherType))
}
func (a *ActionPopPBB) appendTo(b []byte) []byte {
	return appendAction8(b, ActionTypePopPBB, [4]byte{})
}
func (a *ActionExperimenter) appendTo(b []byte) []byte {
	n := a.Len()
	b = actionHeader(b, ActionTypeExperimenter, n)
	b = be.AppendUint32(b, a.Experimenter)
	b = append(b, a.Data...)
	return appendZeros(b, n-8-len(a.Data))
}

func badAction(code uint16, format string, args ...any) *DecodeError {
	return decodeErr(ErrTypeBadAction, code, format, args...)
}

// decodeAction decodes one action at the start of b and returns it and its length.
func decodeAction(b []byte) (Action, int, error) {
	if len(b) < 4 {
		return nil, 0, badAction(BadActionBadLen, "action header truncated (%d bytes)", len(b))
	}
	t, n := ActionType(be.Uint16(b)), int(be.Uint16(b[2:]))
	if n < 8 || n%8 != 0 || n > len(b) {
		return nil, 0, badAction(BadActionBadLen, "action type %d length %d invalid (%d bytes left)", t, n, len(b))
	}
	p := b[4:n]
	fixed := func(want int) error {
		if n != want {
			return badAction(BadActionBadLen, "action type %d length %d, want %d", t, n, want)
		}
		return nil
	}
	var a Action
	switch t {
	case ActionTypeOutput:
		if err := fixed(16); err != nil {
			return nil, 0, err
		}
		a = &ActionOutput{Port: be.Uint32(p), MaxLen: be.Uint16(p[4:])}
	case ActionTypeCopyTTLOut:
		a = &ActionCopyTTLOut{}
	case ActionTypeCopyTTLIn:
		a = &ActionCopyTTLIn{}
	case ActionTypeSetMPLSTTL:
		a = &ActionSetMPLSTTL{TTL: p[0]}
	case ActionTypeDecMPLSTTL:
		a = &ActionDecMPLSTTL{}
	case ActionTypePushVLAN:
		a = &ActionPushVLAN{EtherType: be.Uint16(p)}
	case ActionTypePopVLAN:
		a = &ActionPopVLAN{}
	case ActionTypePushMPLS:
		a = &ActionPushMPLS{EtherType: be.Uint16(p)}
	case ActionTypePopMPLS:
		a = &ActionPopMPLS{EtherType: be.Uint16(p)}
	case ActionTypeSetQueue:
		a = &ActionSetQueue{QueueID: be.Uint32(p)}
	case ActionTypeGroup:
		a = &ActionGroup{GroupID: be.Uint32(p)}
	case ActionTypeSetNWTTL:
		a = &ActionSetNWTTL{TTL: p[0]}
	case ActionTypeDecNWTTL:
		a = &ActionDecNWTTL{}
	case ActionTypePushPBB:
		a = &ActionPushPBB{EtherType: be.Uint16(p)}
	case ActionTypePopPBB:
		a = &ActionPopPBB{}
	case ActionTypeSetField:
		o, k, err := decodeOXM(p)
		if err != nil {
			return nil, 0, badAction(BadActionBadSetLen, "set-field: %s", err.(*DecodeError).Reason)
		}
		if pad8(4+k) != n {
			return nil, 0, badAction(BadActionBadSetLen, "set-field length %d for a %d-byte oxm", n, k)
		}
		a = &ActionSetField{Field: o}
	case ActionTypeExperimenter:
		a = &ActionExperimenter{Experimenter: be.Uint32(p), Data: p[4:]}
	default:
		return nil, 0, badAction(BadActionBadType, "unknown action type %d", t)
	}
	if t != ActionTypeOutput && t != ActionTypeSetField && t != ActionTypeExperimenter {
		if err := fixed(8); err != nil {
			return nil, 0, err
		}
	}
	return a, n, nil
}

// decodeActions decodes a list of actions filling exactly b.
func decodeActions(b []byte) ([]Action, error) {
	var as []Action
	for len(b) > 0 {
		a, n, err := decodeAction(b)
		if err != nil {
			return nil, err
		}
		as = append(as, a)
		b = b[n:]
	}
	return as, nil
}

func actionsLen(as []Action) int {
	n := 0
	for _, a := range as {
		n += a.Len()
	}
	return n
}

func appendActions(b []byte, as []Action) []byte {
	for _, a := range as {
		b = a.appendTo(b)
	}
	return b
}

// InstructionType is an instruction type (enum ofp_instruction_type).
type InstructionType uint16

// Instruction types.
const (
	InstrTypeGotoTable     InstructionType = 1      // OFPIT_GOTO_TABLE
	InstrTypeWriteMetadata InstructionType = 2      // OFPIT_WRITE_METADATA
	InstrTypeWriteActions  InstructionType = 3      // OFPIT_WRITE_ACTIONS
	InstrTypeApplyActions  InstructionType = 4      // OFPIT_APPLY_ACTIONS
	InstrTypeClearActions  InstructionType = 5      // OFPIT_CLEAR_ACTIONS
	InstrTypeMeter         InstructionType = 6      // OFPIT_METER
	InstrTypeExperimenter  InstructionType = 0xffff // OFPIT_EXPERIMENTER
)

// Instruction is one flow instruction. The set is closed: the pointer types Instr* of this package.
type Instruction interface {
	InstructionType() InstructionType
	// Len is the encoded length including the instruction header and padding.
	Len() int
	appendTo(b []byte) []byte
}

// InstrGotoTable continues processing at a later table.
type InstrGotoTable struct{ TableID uint8 }

// InstrWriteMetadata writes metadata under mask.
type InstrWriteMetadata struct{ Metadata, Mask uint64 }

// InstrWriteActions merges actions into the action set.
type InstrWriteActions struct{ Actions []Action }

// InstrApplyActions applies actions immediately. An empty list drops the packet.
type InstrApplyActions struct{ Actions []Action }

// InstrClearActions clears the action set.
type InstrClearActions struct{}

// InstrMeter sends the packet through a meter.
type InstrMeter struct{ MeterID uint32 }

// InstrExperimenter is an experimenter instruction; Data is padded to 8 by the encoder.
type InstrExperimenter struct {
	Experimenter uint32
	Data         []byte
}

func (*InstrGotoTable) InstructionType() InstructionType     { return InstrTypeGotoTable }
func (*InstrWriteMetadata) InstructionType() InstructionType { return InstrTypeWriteMetadata }
func (*InstrWriteActions) InstructionType() InstructionType  { return InstrTypeWriteActions }
func (*InstrApplyActions) InstructionType() InstructionType  { return InstrTypeApplyActions }
func (*InstrClearActions) InstructionType() InstructionType  { return InstrTypeClearActions }
func (*InstrMeter) InstructionType() InstructionType         { return InstrTypeMeter }
func (*InstrExperimenter) InstructionType() InstructionType  { return InstrTypeExperimenter }

func (*InstrGotoTable) Len() int      { return 8 }
func (*InstrWriteMetadata) Len() int  { return 24 }
func (i *InstrWriteActions) Len() int { return 8 + actionsLen(i.Actions) }
func (i *InstrApplyActions) Len() int { return 8 + actionsLen(i.Actions) }
func (*InstrClearActions) Len() int   { return 8 }
func (*InstrMeter) Len() int          { return 8 }
func (i *InstrExperimenter) Len() int { return pad8(8 + len(i.Data)) }

func instrHeader(b []byte, t InstructionType, n int) []byte {
	b = be.AppendUint16(b, uint16(t))
	return be.AppendUint16(b, uint16(n))
}

func (i *InstrGotoTable) appendTo(b []byte) []byte {
	b = instrHeader(b, InstrTypeGotoTable, 8)
	return append(b, i.TableID, 0, 0, 0)
}
func (i *InstrWriteMetadata) appendTo(b []byte) []byte {
	b = instrHeader(b, InstrTypeWriteMetadata, 24)
	b = append(b, 0, 0, 0, 0)
	b = be.AppendUint64(b, i.Metadata)
	return be.AppendUint64(b, i.Mask)
}
func (i *InstrWriteActions) appendTo(b []byte) []byte {
	b = instrHeader(b, InstrTypeWriteActions, i.Len())
	b = append(b, 0, 0, 0, 0)
	return appendActions(b, i.Actions)
}
func (i *InstrApplyActions) appendTo(b []byte) []byte {
	b = instrHeader(b, InstrTypeApplyActions, i.Len())
	b = append(b, 0, 0, 0, 0)
	return appendActions(b, i.Actions)
}
func (i *InstrClearActions) appendTo(b []byte) []byte {
	b = instrHeader(b, InstrTypeClearActions, 8)
	return append(b, 0, 0, 0, 0)
}
func (i *InstrMeter) appendTo(b []byte) []byte {
	b = instrHeader(b, InstrTypeMeter, 8)
	return be.AppendUint32(b, i.MeterID)
}
func (i *InstrExperimenter) appendTo(b []byte) []byte {
	n := i.Len()
	b = instrHeader(b, InstrTypeExperimenter, n)
	b = be.AppendUint32(b, i.Experimenter)
	b = append(b, i.Data...)
	return appendZeros(b, n-8-len(i.Data))
}

func badInstr(code uint16, format string, args ...any) *DecodeError {
	return decodeErr(ErrTypeBadInstruction, code, format, args...)
}

// decodeInstruction decodes one instruction at the start of b and returns it and its length.
func decodeInstruction(b []byte) (Instruction, int, error) {
	if len(b) < 4 {
		return nil, 0, badInstr(BadInstructionBadLen, "instruction header truncated (%d bytes)", len(b))
	}
	t, n := InstructionType(be.Uint16(b)), int(be.Uint16(b[2:]))
	if n < 8 || n%8 != 0 || n > len(b) {
		return nil, 0, badInstr(BadInstructionBadLen, "instruction type %d length %d invalid (%d bytes left)", t, n, len(b))
	}
	p := b[4:n]
	fixed := func(want int) error {
		if n != want {
			return badInstr(BadInstructionBadLen, "instruction type %d length %d, want %d", t, n, want)
		}
		return nil
	}
	switch t {
	case InstrTypeGotoTable:
		if err := fixed(8); err != nil {
			return nil, 0, err
		}
		return &InstrGotoTable{TableID: p[0]}, n, nil
	case InstrTypeWriteMetadata:
		if err := fixed(24); err != nil {
			return nil, 0, err
		}
		return &InstrWriteMetadata{Metadata: be.Uint64(p[4:]), Mask: be.Uint64(p[12:])}, n, nil
	case InstrTypeWriteActions, InstrTypeApplyActions:
		as, err := decodeActions(p[4:])
		if err != nil {
			return nil, 0, err
		}
		if t == InstrTypeWriteActions {
			return &InstrWriteActions{Actions: as}, n, nil
		}
		return &InstrApplyActions{Actions: as}, n, nil
	case InstrTypeClearActions:
		if err := fixed(8); err != nil {
			return nil, 0, err
		}
		return &InstrClearActions{}, n, nil
	case InstrTypeMeter:
		if err := fixed(8); err != nil {
			return nil, 0, err
		}
		return &InstrMeter{MeterID: be.Uint32(p)}, n, nil
	case InstrTypeExperimenter:
		return &InstrExperimenter{Experimenter: be.Uint32(p), Data: p[4:]}, n, nil
	}
	return nil, 0, badInstr(BadInstructionUnknownInst, "unknown instruction type %d", t)
}

func decodeInstructions(b []byte) ([]Instruction, error) {
	var is []Instruction
	for len(b) > 0 {
		i, n, err := decodeInstruction(b)
		if err != nil {
			return nil, err
		}
		is = append(is, i)
		b = b[n:]
	}
	return is, nil
}

func instructionsLen(is []Instruction) int {
	n := 0
	for _, i := range is {
		n += i.Len()
	}
	return n
}

func appendInstructions(b []byte, is []Instruction) []byte {
	for _, i := range is {
		b = i.appendTo(b)
	}
	return b
}

var actionNames = map[ActionType]string{
	ActionTypeOutput: "OFPAT_OUTPUT", ActionTypeCopyTTLOut: "OFPAT_COPY_TTL_OUT",
	ActionTypeCopyTTLIn: "OFPAT_COPY_TTL_IN", ActionTypeSetMPLSTTL: "OFPAT_SET_MPLS_TTL",
	ActionTypeDecMPLSTTL: "OFPAT_DEC_MPLS_TTL", ActionTypePushVLAN: "OFPAT_PUSH_VLAN",
	ActionTypePopVLAN: "OFPAT_POP_VLAN", ActionTypePushMPLS: "OFPAT_PUSH_MPLS",
	ActionTypePopMPLS: "OFPAT_POP_MPLS", ActionTypeSetQueue: "OFPAT_SET_QUEUE",
	ActionTypeGroup: "OFPAT_GROUP", ActionTypeSetNWTTL: "OFPAT_SET_NW_TTL",
	ActionTypeDecNWTTL: "OFPAT_DEC_NW_TTL", ActionTypeSetField: "OFPAT_SET_FIELD",
	ActionTypePushPBB: "OFPAT_PUSH_PBB", ActionTypePopPBB: "OFPAT_POP_PBB",
	ActionTypeExperimenter: "OFPAT_EXPERIMENTER",
}

// String names the action type ("OFPAT_OUTPUT").
func (t ActionType) String() string {
	if s, ok := actionNames[t]; ok {
		return s
	}
	return fmt.Sprintf("OFPAT_UNKNOWN(%d)", uint16(t))
}

var instructionNames = map[InstructionType]string{
	InstrTypeGotoTable: "OFPIT_GOTO_TABLE", InstrTypeWriteMetadata: "OFPIT_WRITE_METADATA",
	InstrTypeWriteActions: "OFPIT_WRITE_ACTIONS", InstrTypeApplyActions: "OFPIT_APPLY_ACTIONS",
	InstrTypeClearActions: "OFPIT_CLEAR_ACTIONS", InstrTypeMeter: "OFPIT_METER",
	InstrTypeExperimenter: "OFPIT_EXPERIMENTER",
}

// String names the instruction type ("OFPIT_GOTO_TABLE").
func (t InstructionType) String() string {
	if s, ok := instructionNames[t]; ok {
		return s
	}
	return fmt.Sprintf("OFPIT_UNKNOWN(%d)", uint16(t))
}
