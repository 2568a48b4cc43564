package scaffold

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

func write(t *testing.T, lang string) (string, []string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "svc")
	files, err := Write(Options{Lang: lang, Name: "stock_item", Dir: dir, Checkout: "/src/evented", Port: 50099})
	if err != nil {
		t.Fatal(err)
	}
	return dir, files
}

// Every language gets its logic, a test, the .proto, the descriptor set,
// the config snippet and a README; what Write reports is what is on disk.
func TestWriteEachLanguage(t *testing.T) {
	want := map[string][]string{
		"go":     {"go.mod", "main.go", "stock_item.go", "stock_item_test.go", "stock_itempb/stock_item.pb.go"},
		"python": {"requirements.txt", "main.py", "stock_item.py", "test_stock_item.py"},
		"rust":   {"Cargo.toml", "build.rs", "src/lib.rs", "src/main.rs"},
	}
	for _, lang := range Langs {
		t.Run(lang, func(t *testing.T) {
			dir, files := write(t, lang)
			for _, f := range append(want[lang], ".gitignore", "README.md", "evented.yaml", "proto/stock_item.proto", "stock_item.binpb") {
				if !slices.Contains(files, f) {
					t.Errorf("%s not written; wrote %v", f, files)
				}
			}
			var onDisk []string
			err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
				if err == nil && !e.IsDir() {
					rel, _ := filepath.Rel(dir, p)
					onDisk = append(onDisk, filepath.ToSlash(rel))
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(onDisk, files) {
				t.Errorf("on disk %v, reported %v", onDisk, files)
			}
			for _, f := range files {
				data, _ := os.ReadFile(filepath.Join(dir, f))
				if strings.Contains(string(data), "{{") || strings.Contains(string(data), "<no value>") {
					t.Errorf("%s: a template field left unfilled:\n%s", f, data)
				}
			}
			cfg, _ := os.ReadFile(filepath.Join(dir, "evented.yaml"))
			if !strings.Contains(string(cfg), "- domain: stock_item\n    address: 127.0.0.1:50099\n") {
				t.Errorf("evented.yaml does not route stock_item to the port:\n%s", cfg)
			}
		})
	}
}

// The descriptor set is a valid file with the command and the event, the
// types `evented send --descriptor-set` resolves.
func TestDescriptorSet(t *testing.T) {
	dir, _ := write(t, "python")
	data, err := os.ReadFile(filepath.Join(dir, "stock_item.binpb"))
	if err != nil {
		t.Fatal(err)
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(data, &set); err != nil {
		t.Fatal(err)
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"stock_item.Create", "stock_item.Created"} {
		d, err := files.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil || d == nil {
			t.Errorf("%s not in the descriptor set: %v", name, err)
		}
	}
	text, _ := os.ReadFile(filepath.Join(dir, "proto", "stock_item.proto"))
	for _, want := range []string{"package stock_item;", "message Create {\n  // The name; required.\n  string name = 1;\n}", "message Created {"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("stock_item.proto lacks %q:\n%s", want, text)
		}
	}
}

// init never overwrites: a directory with anything in it is refused, by
// name, and left as it was.
func TestRefusesNonEmptyDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Write(Options{Lang: "go", Name: "orders", Dir: dir, Checkout: "/src/evented", Port: 50061})
	if err == nil || !strings.Contains(err.Error(), dir+" is not empty (main.go)") {
		t.Fatalf("want a refusal naming %s, got %v", dir, err)
	}
	entries, _ := os.ReadDir(dir)
	if data, _ := os.ReadFile(filepath.Join(dir, "main.go")); len(entries) != 1 || string(data) != "mine" {
		t.Errorf("the directory was changed: %d entries, main.go %q", len(entries), data)
	}
	// An empty directory is fine.
	empty := t.TempDir()
	if _, err := Write(Options{Lang: "go", Name: "orders", Dir: empty, Checkout: "/src/evented", Port: 50061}); err != nil {
		t.Errorf("an empty directory: %v", err)
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"inventory", "stock_item", "a1"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "Inventory", "stock-item", "1st", "évent", "evented", "proto", strings.Repeat("a", 41)} {
		if err := CheckName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
