// Package protoview turns evented's protobuf messages into plain JSON views
// for people: payloads (google.protobuf.Any) decoded with the types compiled
// into the binary and those of FileDescriptorSet files, and commands parsed
// from JSON. The CLI prints these views and the console serves them.
package protoview

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	_ "github.com/evented/evented/api/examplespb" // the example types, by name
)

// examplesPackage is the protobuf package of the example domain compiled
// into the binary.
const examplesPackage = "examples"

// DescriptorHelp says how to make evented know a type.
const DescriptorHelp = `evented knows the example types compiled into it (package examples) and the
types of the files given with --descriptor-set FILE: a FileDescriptorSet, made with
  buf build -o FILE.binpb                                               (from your buf module)
  protoc --include_imports --descriptor_set_out=FILE.binpb -I DIR your.proto`

// Registry resolves message types by full name or type URL: the types of
// the --descriptor-set files first, then those compiled into this binary
// (packages evented and examples, protobuf's well-known types). It is the
// resolver of protojson, so Any fields inside payloads decode too.
type Registry struct {
	local *protoregistry.Types
}

// Load reads FileDescriptorSet files. A file that this binary
// already holds (google/protobuf/*.proto, examples/domains.proto) is taken
// from the binary; imports missing from a set are looked up there too.
func Load(paths []string) (*Registry, error) {
	r := &Registry{local: new(protoregistry.Types)}
	if len(paths) == 0 {
		return r, nil
	}
	files := new(protoregistry.Files)
	var pending []*descriptorpb.FileDescriptorProto
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("--descriptor-set: %w", err)
		}
		var set descriptorpb.FileDescriptorSet
		if err := proto.Unmarshal(data, &set); err != nil {
			return nil, fmt.Errorf("--descriptor-set %s: not a binary FileDescriptorSet (%v)\n%s", p, err, DescriptorHelp)
		}
		if len(set.GetFile()) == 0 {
			return nil, fmt.Errorf("--descriptor-set %s: holds no .proto files\n%s", p, DescriptorHelp)
		}
		pending = append(pending, set.GetFile()...)
	}
	// Files may come in any order: add those whose imports are known until
	// none is left or no progress is made.
	res := fileResolver{files}
	for len(pending) > 0 {
		var next []*descriptorpb.FileDescriptorProto
		var errs []error
		for _, fdp := range pending {
			if _, err := res.FindFileByPath(fdp.GetName()); err == nil {
				continue // the binary's copy, or an earlier set's
			}
			fd, err := protodesc.NewFile(fdp, res)
			if err != nil {
				next = append(next, fdp)
				errs = append(errs, fmt.Errorf("%s: %w", fdp.GetName(), err))
				continue
			}
			if err := files.RegisterFile(fd); err != nil {
				return nil, fmt.Errorf("--descriptor-set: %w", err)
			}
			if err := registerMessages(r.local, fd.Messages()); err != nil {
				return nil, fmt.Errorf("--descriptor-set: %w", err)
			}
		}
		if len(next) == len(pending) {
			return nil, fmt.Errorf("--descriptor-set: %w\n(were its imports included? protoc needs --include_imports)", errors.Join(errs...))
		}
		pending = next
	}
	return r, nil
}

func registerMessages(t *protoregistry.Types, msgs protoreflect.MessageDescriptors) error {
	for i := range msgs.Len() {
		md := msgs.Get(i)
		if md.IsMapEntry() {
			continue
		}
		if err := t.RegisterMessage(dynamicpb.NewMessageType(md)); err != nil {
			return err
		}
		if err := registerMessages(t, md.Messages()); err != nil {
			return err
		}
	}
	return nil
}

// fileResolver finds files among those loaded, then in the binary.
type fileResolver struct{ local *protoregistry.Files }

func (f fileResolver) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	if fd, err := protoregistry.GlobalFiles.FindFileByPath(path); err == nil {
		return fd, nil
	}
	return f.local.FindFileByPath(path)
}

func (f fileResolver) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if d, err := f.local.FindDescriptorByName(name); err == nil {
		return d, nil
	}
	return protoregistry.GlobalFiles.FindDescriptorByName(name)
}

// FindMessageByName implements protoregistry.MessageTypeResolver.
func (r *Registry) FindMessageByName(name protoreflect.FullName) (protoreflect.MessageType, error) {
	if mt, err := r.local.FindMessageByName(name); err == nil {
		return mt, nil
	}
	return protoregistry.GlobalTypes.FindMessageByName(name)
}

// FindMessageByURL implements protoregistry.MessageTypeResolver.
func (r *Registry) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	return r.FindMessageByName(fullName(url))
}

// FindExtensionByName implements protoregistry.ExtensionTypeResolver.
func (r *Registry) FindExtensionByName(field protoreflect.FullName) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByName(field)
}

// FindExtensionByNumber implements protoregistry.ExtensionTypeResolver.
func (r *Registry) FindExtensionByNumber(message protoreflect.FullName, field protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByNumber(message, field)
}

// fullName is the message name of a type URL ("type.googleapis.com/a.B" →
// "a.B"); a bare name is returned as it is.
func fullName(typeURL string) protoreflect.FullName {
	if i := strings.LastIndexByte(typeURL, '/'); i >= 0 {
		typeURL = typeURL[i+1:]
	}
	return protoreflect.FullName(typeURL)
}

// Message finds the type a user named ("examples.CreateCustomer" or
// "type.googleapis.com/examples.CreateCustomer"); the error of an unknown
// one lists what is known and says how to add types.
func (r *Registry) Message(name string) (protoreflect.MessageType, error) {
	mt, err := r.FindMessageByName(fullName(name))
	if err == nil {
		return mt, nil
	}
	var hint string
	short := string(fullName(name).Name())
	for _, k := range r.Known() {
		if string(protoreflect.FullName(k).Name()) == short && k != string(fullName(name)) {
			hint += fmt.Sprintf("Did you mean %s?\n", k)
		}
	}
	return nil, fmt.Errorf("unknown message type %q\n%s%s\nKnown now: %s", name, hint, DescriptorHelp, strings.Join(r.Known(), ", "))
}

// Known lists the message types a user is likely to send or read: those of
// the descriptor sets and of the example package, sorted.
func (r *Registry) Known() []string {
	var names []string
	r.local.RangeMessages(func(mt protoreflect.MessageType) bool {
		names = append(names, string(mt.Descriptor().FullName()))
		return true
	})
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		if mt.Descriptor().ParentFile().Package() == examplesPackage {
			names = append(names, string(mt.Descriptor().FullName()))
		}
		return true
	})
	slices.Sort(names)
	return slices.Compact(names)
}

// Parse decodes a JSON payload (protobuf's JSON mapping: field names as in
// the .proto or lowerCamelCase) into a message of type mt.
func (r *Registry) Parse(mt protoreflect.MessageType, payload string) (proto.Message, error) {
	msg := mt.New().Interface()
	if err := (protojson.UnmarshalOptions{Resolver: r}).Unmarshal([]byte(payload), msg); err != nil {
		return nil, fmt.Errorf("payload is not a valid %s in JSON: %v\nIts fields: %s",
			mt.Descriptor().FullName(), err, describeFields(mt.Descriptor()))
	}
	return msg, nil
}

func describeFields(md protoreflect.MessageDescriptor) string {
	fs := md.Fields()
	if fs.Len() == 0 {
		return "none (send {})"
	}
	var parts []string
	for i := range fs.Len() {
		f := fs.Get(i)
		kind := f.Kind().String()
		if f.Message() != nil {
			kind = string(f.Message().FullName())
		}
		if f.IsList() {
			kind = "repeated " + kind
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", f.Name(), kind))
	}
	return strings.Join(parts, ", ")
}

// Payload is a decoded Any: its type, and its content as JSON when the type
// is known and the bytes decode, else as base64.
type Payload struct {
	Type    string          `json:"type"`
	TypeURL string          `json:"type_url"`
	JSON    json.RawMessage `json:"payload,omitempty"`
	Base64  string          `json:"payload_base64,omitempty"`
}

// Decode decodes an Any's type URL and bytes.
func (r *Registry) Decode(typeURL string, value []byte) Payload {
	p := Payload{Type: string(fullName(typeURL)), TypeURL: typeURL}
	if mt, err := r.FindMessageByURL(typeURL); err == nil {
		msg := mt.New().Interface()
		if err := (proto.UnmarshalOptions{Resolver: r}).Unmarshal(value, msg); err == nil {
			if j, err := (protojson.MarshalOptions{Resolver: r, UseProtoNames: true}).Marshal(msg); err == nil {
				// protojson varies its spacing on purpose; make it stable.
				var buf bytes.Buffer
				if json.Compact(&buf, j) == nil {
					p.JSON = buf.Bytes()
					return p
				}
			}
		}
	}
	if len(value) > 0 {
		p.Base64 = base64.StdEncoding.EncodeToString(value)
	}
	return p
}

// Text is the payload as one table cell.
func (p Payload) Text() string {
	switch {
	case p.JSON != nil:
		return string(p.JSON)
	case p.Base64 != "":
		return "base64:" + p.Base64
	}
	return "(empty)"
}
