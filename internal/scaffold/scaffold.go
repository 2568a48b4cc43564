// Package scaffold writes a new domain service — business logic with one
// command and one event, its test, its .proto, a configuration snippet for
// evented and a README — in Go, Python or Rust, from the templates
// embedded in the binary (templates/LANG). It is `evented init`.
//
// The project depends on the SDK of an evented checkout: Go through a
// replace directive, Python through a wheel built from sdk/python, Rust
// through a path dependency on sdk/rust. Until the SDKs are published that
// is the only way to reach them from outside the checkout.
package scaffold

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"google.golang.org/protobuf/cmd/protoc-gen-go/internal_gengo"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

//go:embed all:templates
var templates embed.FS

// Langs are the languages init writes, in the order help lists them.
var Langs = []string{"go", "python", "rust"}

// GoVersion is the go directive of a generated go.mod: the SDK's module
// needs at least this one.
const GoVersion = "1.26.0"

// Options say what to write.
type Options struct {
	Lang string // go, python or rust
	Name string // the domain, also the proto package and the project's name
	// Dir is the project's directory; it must be missing or empty.
	Dir string
	// Checkout is the evented checkout whose SDK the project uses (an
	// absolute path).
	Checkout string
	// Port is the service's default port.
	Port int
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// reserved are names that would shadow what the project imports.
var reserved = []string{"evented", "pb", "proto", "main", "test", "tests", "grpc", "google", "sdk", "build", "src", "self", "super", "crate", "type", "struct", "fn", "mod", "use", "impl", "import", "def", "class", "package", "func"}

// CheckName says why name cannot name a domain service, or nil.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("NAME %q: want lower-case letters, digits and underscores, starting with a letter, at most 40 (it is the domain, the protobuf package and a Go, Python and Rust identifier), e.g. inventory", name)
	}
	if slices.Contains(reserved, name) {
		return fmt.Errorf("NAME %q would shadow a package the project imports or a keyword: choose another, e.g. %s_service", name, name)
	}
	return nil
}

// data is what the templates see.
type data struct {
	Options
	Domain   string // = Name
	Type     string // the state type: Name in CamelCase
	Command  string // the command's full protobuf name
	Event    string // the event's full protobuf name
	Module   string // the Go module path
	Pkg      string // the Go package of the generated messages
	Go       string // GoVersion
	SDK      string // the SDK's path in the checkout, for this language
	ProtoVer string // the pinned grpcio-tools, Python only
}

// Write writes the project and returns the paths it wrote, relative to
// opts.Dir, sorted.
func Write(opts Options) ([]string, error) {
	if !slices.Contains(Langs, opts.Lang) {
		return nil, fmt.Errorf("--lang %q: want one of %s", opts.Lang, strings.Join(Langs, ", "))
	}
	if err := CheckName(opts.Name); err != nil {
		return nil, err
	}
	if !filepath.IsAbs(opts.Checkout) {
		return nil, fmt.Errorf("the evented checkout %q must be an absolute path", opts.Checkout)
	}
	if err := emptyDir(opts.Dir); err != nil {
		return nil, err
	}
	d := data{
		Options: opts,
		Domain:  opts.Name,
		Type:    camel(opts.Name),
		Command: opts.Name + ".Create",
		Event:   opts.Name + ".Created",
		Module:  opts.Name,
		Pkg:     opts.Name + "pb",
		Go:      GoVersion,
	}
	switch opts.Lang {
	case "go":
		d.SDK = opts.Checkout
	case "python":
		d.SDK = filepath.Join(opts.Checkout, "sdk", "python")
	case "rust":
		d.SDK = filepath.Join(opts.Checkout, "sdk", "rust")
	}

	files := map[string][]byte{}
	for _, root := range []string{"templates/common", "templates/" + opts.Lang} {
		err := fs.WalkDir(templates, root, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			text, err := templates.ReadFile(p)
			if err != nil {
				return err
			}
			rel := strings.TrimPrefix(p, root+"/")
			rel = strings.TrimSuffix(rel, ".tmpl")
			rel = strings.ReplaceAll(rel, "NAME", opts.Name)
			rel = strings.ReplaceAll(rel, "dot-", ".") // a file named .x in the project
			out, err := render(p, string(text), d)
			if err != nil {
				return err
			}
			files[rel] = out
			return nil
		})
		if err != nil {
			return nil, err
		}
	}

	fdp := descriptor(d)
	files["proto/"+opts.Name+".proto"] = []byte(protoText(fdp))
	set, err := proto.MarshalOptions{Deterministic: true}.Marshal(&descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{fdp}})
	if err != nil {
		return nil, err
	}
	files[opts.Name+".binpb"] = set
	if opts.Lang == "go" {
		code, err := goCode(fdp)
		if err != nil {
			return nil, fmt.Errorf("generate the Go code of %s.proto: %w", opts.Name, err)
		}
		files[d.Pkg+"/"+opts.Name+".pb.go"] = code
	}

	var written []string
	for rel, content := range files {
		p := filepath.Join(opts.Dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return written, err
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			return written, err
		}
		written = append(written, rel)
	}
	slices.Sort(written)
	return written, nil
}

// emptyDir makes sure dir is missing or an empty directory.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case len(entries) > 0:
		var names []string
		for i, e := range entries {
			if i == 3 {
				names = append(names, "…")
				break
			}
			names = append(names, e.Name())
		}
		return fmt.Errorf("%s is not empty (%s): init writes only into a new or empty directory, and overwrote nothing; choose another --dir or NAME", dir, strings.Join(names, ", "))
	}
	return nil
}

func render(name, text string, d data) ([]byte, error) {
	t, err := template.New(path.Base(name)).Delims("{{", "}}").Parse(text)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// camel is name in CamelCase: the state type.
func camel(name string) string {
	var b strings.Builder
	up := true
	for _, r := range name {
		switch {
		case r == '_':
			up = true
		case up:
			b.WriteString(strings.ToUpper(string(r)))
			up = false
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// field is one string field of a message.
type field struct{ name, comment string }

// message is one message of the domain's .proto.
type message struct {
	name, comment string
	fields        []field
}

// messages are the domain's command and event: one source for the .proto
// text, its descriptor set and the Go code.
func messages(d data) []message {
	return []message{
		{"Create", fmt.Sprintf("Create is a command: create the %s aggregate, with a name.", d.Domain),
			[]field{{"name", "The name; required."}}},
		{"Created", fmt.Sprintf("Created is an event: the %s aggregate was created.", d.Domain),
			[]field{{"name", "The name it was created with."}}},
	}
}

// descriptor is the .proto of the domain.
func descriptor(d data) *descriptorpb.FileDescriptorProto {
	fdp := &descriptorpb.FileDescriptorProto{
		Name:    proto.String(d.Name + ".proto"),
		Package: proto.String(d.Name),
		Syntax:  proto.String("proto3"),
	}
	if d.Lang == "go" {
		fdp.Options = &descriptorpb.FileOptions{GoPackage: proto.String(d.Module + "/" + d.Pkg)}
	}
	for _, m := range messages(d) {
		mp := &descriptorpb.DescriptorProto{Name: proto.String(m.name)}
		for i, f := range m.fields {
			mp.Field = append(mp.Field, &descriptorpb.FieldDescriptorProto{
				Name:     proto.String(f.name),
				JsonName: proto.String(f.name),
				Number:   proto.Int32(int32(i + 1)),
				Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
				Type:     descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(),
			})
		}
		fdp.MessageType = append(fdp.MessageType, mp)
	}
	// The comments, for the Go code's doc comments: message i is path
	// [4, i], its field j [4, i, 2, j].
	info := &descriptorpb.SourceCodeInfo{}
	for i, m := range messages(d) {
		info.Location = append(info.Location, &descriptorpb.SourceCodeInfo_Location{
			Path: []int32{4, int32(i)}, Span: []int32{0, 0, 0}, LeadingComments: proto.String(" " + m.comment + "\n"),
		})
		for j, f := range m.fields {
			info.Location = append(info.Location, &descriptorpb.SourceCodeInfo_Location{
				Path: []int32{4, int32(i), 2, int32(j)}, Span: []int32{0, 0, 0}, LeadingComments: proto.String(" " + f.comment + "\n"),
			})
		}
	}
	fdp.SourceCodeInfo = info
	return fdp
}

// protoText is fdp as .proto source.
func protoText(fdp *descriptorpb.FileDescriptorProto) string {
	var b strings.Builder
	b.WriteString("// The messages of the domain " + fdp.GetPackage() + ": its commands and events.\n")
	b.WriteString("// Compiled into the service (see README.md); evented reads them from\n")
	b.WriteString("// " + fdp.GetPackage() + ".binpb, the same file as a FileDescriptorSet.\n")
	b.WriteString("syntax = \"proto3\";\n\npackage " + fdp.GetPackage() + ";\n")
	if gp := fdp.GetOptions().GetGoPackage(); gp != "" {
		b.WriteString("\noption go_package = " + strconv.Quote(gp) + ";\n")
	}
	comments := map[string]string{}
	for _, l := range fdp.GetSourceCodeInfo().GetLocation() {
		comments[fmt.Sprint(l.GetPath())] = strings.TrimSpace(l.GetLeadingComments())
	}
	for i, m := range fdp.GetMessageType() {
		fmt.Fprintf(&b, "\n// %s\nmessage %s {\n", comments[fmt.Sprint([]int32{4, int32(i)})], m.GetName())
		for j, f := range m.GetField() {
			fmt.Fprintf(&b, "  // %s\n  string %s = %d;\n", comments[fmt.Sprint([]int32{4, int32(i), 2, int32(j)})], f.GetName(), f.GetNumber())
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// goCode is what protoc-gen-go makes of fdp.
func goCode(fdp *descriptorpb.FileDescriptorProto) ([]byte, error) {
	req := &pluginpb.CodeGeneratorRequest{
		FileToGenerate: []string{fdp.GetName()},
		ProtoFile:      []*descriptorpb.FileDescriptorProto{fdp},
		Parameter:      proto.String("paths=source_relative"),
	}
	gen, err := protogen.Options{}.New(req)
	if err != nil {
		return nil, err
	}
	gen.SupportedFeatures = internal_gengo.SupportedFeatures
	for _, f := range gen.Files {
		if f.Generate {
			internal_gengo.GenerateFile(gen, f)
		}
	}
	resp := gen.Response()
	if resp.Error != nil {
		return nil, errors.New(resp.GetError())
	}
	if len(resp.GetFile()) != 1 {
		return nil, fmt.Errorf("protoc-gen-go wrote %d files, want 1", len(resp.GetFile()))
	}
	return []byte(resp.GetFile()[0].GetContent()), nil
}
