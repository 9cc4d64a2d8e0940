// Package ofp is Portcullis's OpenFlow 1.3 codec: bytes in, structs out. It does no IO, no logging and
// keeps no state; it is safe for concurrent use because it has nothing to share.
//
// # Decoding
//
// A session reads the 8-byte header, learns the length with ParseHeader, reads the rest, and decodes
// the whole message:
//
//	h, err := ofp.ParseHeader(buf[:ofp.HeaderLen])
//	// ... read h.Length-8 more bytes into buf ...
//	h, msg, err := ofp.Unmarshal(buf[:h.Length])
//	switch m := msg.(type) {
//	case *ofp.PacketIn:
//		port, _ := m.Match.InPort()
//		handle(port, m.Data)
//	case *ofp.Unknown: // a type we do not decode: ignore or log, never fatal
//	}
//
// Aliasing contract: slices in a decoded message (PacketIn.Data, OXM values and masks, hardware
// addresses, Error.Data, raw bodies of Unknown messages, ...) point into the buffer passed to Unmarshal.
// They are valid only until that buffer is reused; decode a copy (bytes.Clone) of a message that must be
// kept, such as a part of a multipart reply awaiting its other parts.
//
// Errors from Unmarshal are *DecodeError, whose ErrType and Code are what an OFPT_ERROR answering the
// bad message should carry (DecodeError.AsError builds it). Unknown message types are not errors: they
// decode to *Unknown; unknown multipart types decode to *UnknownMultipart. A HELLO of any version
// decodes so that versions can be negotiated (Hello.Supports); any other message with a header version
// other than Version is an OFPBRC_BAD_VERSION error.
//
// # Encoding
//
// Build a message value and Append or Marshal it; the encoder computes every length and pad field:
//
//	fm := &ofp.FlowMod{
//		TableID: 0, Command: ofp.FlowAdd, Priority: 100, BufferID: ofp.NoBuffer,
//		OutPort: ofp.PortAny, OutGroup: ofp.GroupAny,
//		Match: ofp.Match{Fields: []ofp.OXM{ofp.MatchEthType(0x0800), ofp.MatchIPv4Src(src)}},
//		Instructions: []ofp.Instruction{&ofp.InstrApplyActions{}}, // no actions: drop
//	}
//	out = ofp.Append(out[:0], xid, fm) // no allocation when out has room
//
// The session, not the codec, owns the xid counter.
package ofp
