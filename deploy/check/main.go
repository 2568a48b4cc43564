// Command check renders evented's Kubernetes manifests and validates them
// offline — no cluster, no schema download — as CI does:
//
//	cd deploy/check && go run . -root ../..
//
// It renders deploy/base and deploy/overlays/dev with the kustomize Go API
// (the code behind `kubectl apply -k`) and checks that:
//
//   - every object decodes strictly through client-go's scheme: a misspelt
//     or misplaced field, or a value of the wrong type, is an error;
//   - every environment variable set on the evented container is one the
//     evented binary reads (`evented config env`), and its pod has
//     enableServiceLinks: false (else Kubernetes adds EVENTED_PORT & co. for
//     the Service named evented, which evented refuses);
//   - the configuration the pod would load — the mounted ConfigMap plus the
//     container's environment — passes `evented config validate`; its ports
//     are the container ports named command, query and admin, its SQLite
//     file is on a persistent volume, and its readiness and liveness probes
//     are /readyz and /healthz on the admin port (HTTPS when TLS is on);
//   - every Service selects the pods of some workload, on ports they have;
//   - kind-config.yaml decodes strictly as Kind's v1alpha4 Cluster and maps
//     the host ports of evented-rs (50051, 50052, 5672, 15672, 6379) to
//     NodePorts of the right services in the dev overlay.
//
// It builds the evented binary from -root unless -evented names one. With
// -print DIR it prints the rendered YAML of DIR (relative to deploy/) and
// checks nothing. This is a module of its own so that the server's module
// does not depend on Kubernetes.
package main

import (
	"bytes"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/scheme"
	kind "sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// kustomizations are the directories under deploy/ that are checked.
var kustomizations = []string{"base", "overlays/dev", "overlays/secure"}

// devOverlay is the one kind-config.yaml is checked against.
const devOverlay = "overlays/dev"

// exposed is what kind-config.yaml must map to localhost: the ports of the
// evented-rs README, each to a NodePort of the named app's port.
var exposed = []struct {
	host      int32
	app, port string
}{
	{50051, "evented", "command"},
	{50052, "evented", "query"},
	{5672, "rabbitmq", "amqp"},
	{15672, "rabbitmq", "management"},
	{6379, "redis", "redis"},
}

// goRuntimeEnv are variables the Go runtime reads, allowed beside evented's
// own on its container.
var goRuntimeEnv = []string{"GOMAXPROCS", "GOMEMLIMIT", "GOGC", "GODEBUG", "GOTRACEBACK", "TZ"}

// eventedContainer is the name of evented's container in its pod.
const eventedContainer = "evented"

func main() {
	root := flag.String("root", "../..", "the repository root")
	bin := flag.String("evented", "", "an evented binary (default: build one from -root)")
	print := flag.String("print", "", "print the rendered YAML of this kustomization (relative to deploy/) and exit")
	flag.Parse()
	if *print != "" {
		out, err := renderYAML(filepath.Join(*root, "deploy", *print))
		if err != nil {
			fmt.Fprintln(os.Stderr, "check:", err)
			os.Exit(1)
		}
		os.Stdout.Write(out)
		return
	}
	problems, err := run(*root, *bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "check:", err)
		os.Exit(2)
	}
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, p)
	}
	if len(problems) > 0 {
		fmt.Fprintf(os.Stderr, "check: %d problem(s) in the manifests\n", len(problems))
		os.Exit(1)
	}
	fmt.Printf("check: %s and kind-config.yaml render and validate\n", strings.Join(kustomizations, ", "))
}

// run checks every kustomization and kind-config.yaml; it returns the
// problems found, or an error when it could not check.
func run(root, bin string) ([]string, error) {
	if bin == "" {
		dir, err := os.MkdirTemp("", "evented-check-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "evented")
		build := exec.Command("go", "build", "-o", bin, "./cmd/evented")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build evented: %v\n%s", err, out)
		}
	}
	ev := evented{bin: bin}
	known, err := ev.envNames()
	if err != nil {
		return nil, err
	}

	var problems []string
	var dev []object
	for _, k := range kustomizations {
		objs, err := render(filepath.Join(root, "deploy", k))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", k, err))
			continue
		}
		for _, p := range check(objs, ev, known) {
			problems = append(problems, k+": "+p)
		}
		if k == devOverlay {
			dev = objs
		}
	}
	kc, err := os.ReadFile(filepath.Join(root, "kind-config.yaml"))
	if err != nil {
		problems = append(problems, err.Error())
	} else if dev != nil {
		for _, p := range checkKind(kc, dev) {
			problems = append(problems, "kind-config.yaml: "+p)
		}
	}
	return problems, nil
}

// object is one rendered resource, decoded.
type object struct {
	kind, name, namespace string
	raw                   []byte
	obj                   runtime.Object
}

func (o object) String() string { return o.kind + "/" + o.name }

func renderYAML(dir string) ([]byte, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, err
	}
	return m.AsYaml()
}

// render runs kustomize on dir and splits the result into objects (not yet
// decoded: see check).
func render(dir string) ([]object, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, err
	}
	var objs []object
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", r.GetKind(), r.GetName(), err)
		}
		objs = append(objs, object{kind: r.GetKind(), name: r.GetName(), namespace: r.GetNamespace(), raw: y})
	}
	return objs, nil
}

// parse splits a multi-document YAML stream into objects (for tests and
// for manifests not made by kustomize).
func parse(stream []byte) ([]object, error) {
	var objs []object
	for doc := range bytes.SplitSeq(stream, []byte("\n---\n")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var meta struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return nil, err
		}
		objs = append(objs, object{kind: meta.Kind, name: meta.Metadata.Name, namespace: meta.Metadata.Namespace, raw: doc})
	}
	return objs, nil
}

// strict decodes YAML into client-go's types, refusing unknown and
// duplicate fields.
var strict = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
	kjson.SerializerOptions{Yaml: true, Strict: true})

// check decodes objs strictly and checks them as a whole; it returns the
// problems found.
func check(objs []object, ev evented, known map[string]bool) []string {
	var problems []string
	for i := range objs {
		o, _, err := strict.Decode(objs[i].raw, nil, nil)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", objs[i], err))
			continue
		}
		objs[i].obj = o
	}
	found := false
	for _, o := range objs {
		tmpl, claims := podTemplate(o.obj)
		if tmpl == nil {
			continue
		}
		for _, c := range tmpl.Spec.Containers {
			if c.Name != eventedContainer {
				continue
			}
			found = true
			for _, p := range checkEvented(o, tmpl, claims, c, objs, ev, known) {
				problems = append(problems, fmt.Sprintf("%s container %s: %s", o, c.Name, p))
			}
		}
	}
	if !found {
		problems = append(problems, fmt.Sprintf("no workload has a container named %q", eventedContainer))
	}
	problems = append(problems, checkServices(objs)...)
	return problems
}

// podTemplate returns a workload's pod template and the names of the
// volume claims its pods get.
func podTemplate(o runtime.Object) (*corev1.PodTemplateSpec, []string) {
	switch w := o.(type) {
	case *appsv1.Deployment:
		return &w.Spec.Template, nil
	case *appsv1.StatefulSet:
		var claims []string
		for _, c := range w.Spec.VolumeClaimTemplates {
			claims = append(claims, c.Name)
		}
		return &w.Spec.Template, claims
	case *appsv1.DaemonSet:
		return &w.Spec.Template, nil
	case *batchv1.Job:
		return &w.Spec.Template, nil
	case *corev1.Pod:
		return &corev1.PodTemplateSpec{ObjectMeta: w.ObjectMeta, Spec: w.Spec}, nil
	}
	return nil, nil
}

// checkEvented checks evented's container: its variables, its pod's service
// links, and the configuration it would load.
func checkEvented(o object, tmpl *corev1.PodTemplateSpec, claims []string, c corev1.Container, objs []object, ev evented, known map[string]bool) []string {
	var problems []string
	if l := tmpl.Spec.EnableServiceLinks; l == nil || *l {
		problems = append(problems, "the pod needs enableServiceLinks: false: Kubernetes would set EVENTED_PORT, EVENTED_SERVICE_HOST, … for the Service named evented, and evented refuses EVENTED_ variables that name no setting")
	}

	env := map[string]string{}
	for _, e := range c.Env {
		if !known[e.Name] && !slices.Contains(goRuntimeEnv, e.Name) {
			problems = append(problems, fmt.Sprintf("sets %s, which evented does not read (evented config env lists what it does)", e.Name))
		}
		v, err := value(e, o.namespace, objs)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", e.Name, err))
			continue
		}
		env[e.Name] = v
	}
	for _, from := range c.EnvFrom {
		data, err := envFromData(from, o.namespace, objs)
		if err != nil {
			problems = append(problems, fmt.Sprintf("envFrom: %v", err))
			continue
		}
		for k, v := range data {
			name := from.Prefix + k
			if !known[name] && !slices.Contains(goRuntimeEnv, name) {
				problems = append(problems, fmt.Sprintf("envFrom sets %s, which evented does not read (evented config env lists what it does)", name))
			}
			if _, set := env[name]; !set {
				env[name] = v // env wins over envFrom
			}
		}
	}

	// The configuration file the pod would read.
	var file []byte
	if p := env["EVENTED_CONFIG"]; p != "" {
		data, err := mountedFile(p, tmpl, c, o.namespace, objs)
		if err != nil {
			problems = append(problems, fmt.Sprintf("EVENTED_CONFIG %s: %v", p, err))
			return problems
		}
		file = data
	}
	cfg, err := ev.load(file, env)
	if err != nil {
		return append(problems, fmt.Sprintf("the configuration it would load is invalid:\n%v", err))
	}

	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	named := map[string]string{"command": "command_handler_port", "query": "event_query_port"}
	admin := cfg.Server["admin_port"] > 0
	if admin {
		named["admin"] = "admin_port"
	}
	for name, key := range named {
		want := cfg.Server[key]
		if got, ok := ports[name]; !ok || int(got) != want {
			problems = append(problems, fmt.Sprintf("container port %q is %d, but evented listens on server.%s %d", name, got, key, want))
		}
	}
	if admin {
		problems = append(problems, checkProbes(c, cfg)...)
	} else {
		problems = append(problems, "server.admin_port is off: the readiness probe needs /readyz on the admin port")
	}
	if cfg.Storage.Type == "sqlite" {
		if !persistent(cfg.Storage.Path, tmpl, claims, c) {
			problems = append(problems, fmt.Sprintf("storage.path %s is not on a persistent volume: events would be lost with the pod", cfg.Storage.Path))
		}
	}
	return problems
}

// checkProbes checks that evented's container is ready when /readyz on the
// admin port says so, and alive when /healthz does — over HTTPS when TLS is
// on, since the admin port then speaks nothing else. With mutual TLS the
// kubelet cannot complete the handshake: tcpSocket probes are accepted.
func checkProbes(c corev1.Container, cfg effective) []string {
	scheme := corev1.URISchemeHTTP
	if cfg.TLS {
		scheme = corev1.URISchemeHTTPS
	}
	var problems []string
	for _, p := range []struct {
		kind, path string
		probe      *corev1.Probe
	}{{"readinessProbe", "/readyz", c.ReadinessProbe}, {"livenessProbe", "/healthz", c.LivenessProbe}} {
		if cfg.MTLS && p.probe != nil && p.probe.TCPSocket != nil {
			continue // the kubelet has no client certificate to present
		}
		if p.probe == nil || p.probe.HTTPGet == nil {
			problems = append(problems, fmt.Sprintf("%s: want an httpGet of %s on the admin port", p.kind, p.path))
			continue
		}
		if p.probe.GRPC != nil || p.probe.TCPSocket != nil || p.probe.Exec != nil {
			// The API server refuses it; an overlay's patch adding httpGet
			// to a probe that had another handler does this.
			problems = append(problems, fmt.Sprintf("%s: an httpGet and another handler: want one handler", p.kind))
		}
		g := p.probe.HTTPGet
		onAdmin := (g.Port.Type == intstr.String && g.Port.StrVal == "admin") ||
			(g.Port.Type == intstr.Int && int(g.Port.IntVal) == cfg.Server["admin_port"])
		if g.Path != p.path || !onAdmin {
			problems = append(problems, fmt.Sprintf("%s: httpGet of %s on port %s, want %s on the admin port (%d)", p.kind, g.Path, g.Port.String(), p.path, cfg.Server["admin_port"]))
		}
		if got := cmp.Or(g.Scheme, corev1.URISchemeHTTP); got != scheme {
			problems = append(problems, fmt.Sprintf("%s: scheme %s, but the admin port speaks %s (server.tls)", p.kind, got, scheme))
		}
	}
	return problems
}

// value resolves an env entry's value from the rendered objects.
func value(e corev1.EnvVar, ns string, objs []object) (string, error) {
	if e.ValueFrom == nil {
		return e.Value, nil
	}
	switch {
	case e.ValueFrom.ConfigMapKeyRef != nil:
		r := e.ValueFrom.ConfigMapKeyRef
		data, err := dataOf("ConfigMap", r.Name, ns, objs)
		if err != nil {
			return "", err
		}
		v, ok := data[r.Key]
		if !ok {
			return "", fmt.Errorf("ConfigMap %s has no key %q", r.Name, r.Key)
		}
		return v, nil
	case e.ValueFrom.SecretKeyRef != nil:
		r := e.ValueFrom.SecretKeyRef
		data, err := dataOf("Secret", r.Name, ns, objs)
		if err != nil {
			return "", err
		}
		v, ok := data[r.Key]
		if !ok {
			return "", fmt.Errorf("Secret %s has no key %q", r.Name, r.Key)
		}
		return v, nil
	}
	return "", errors.New("a value from the pod's fields or resources cannot be checked offline; set it literally or from a ConfigMap or Secret")
}

func envFromData(from corev1.EnvFromSource, ns string, objs []object) (map[string]string, error) {
	switch {
	case from.ConfigMapRef != nil:
		return dataOf("ConfigMap", from.ConfigMapRef.Name, ns, objs)
	case from.SecretRef != nil:
		return dataOf("Secret", from.SecretRef.Name, ns, objs)
	}
	return nil, errors.New("neither a ConfigMap nor a Secret")
}

// dataOf returns the data of a rendered ConfigMap or Secret.
func dataOf(kind, name, ns string, objs []object) (map[string]string, error) {
	for _, o := range objs {
		if o.kind != kind || o.name != name || o.namespace != ns {
			continue
		}
		data := map[string]string{}
		switch v := o.obj.(type) {
		case *corev1.ConfigMap:
			for k, s := range v.Data {
				data[k] = s
			}
			for k, b := range v.BinaryData {
				data[k] = string(b)
			}
		case *corev1.Secret:
			for k, b := range v.Data {
				data[k] = string(b)
			}
			for k, s := range v.StringData {
				data[k] = s
			}
		default:
			return nil, fmt.Errorf("%s %s did not decode", kind, name)
		}
		return data, nil
	}
	return nil, fmt.Errorf("no %s named %s in the rendered manifests", kind, name)
}

// mountedFile returns the content of file p in container c, from the
// ConfigMap or Secret volume mounted over it.
func mountedFile(p string, tmpl *corev1.PodTemplateSpec, c corev1.Container, ns string, objs []object) ([]byte, error) {
	m, rel, ok := mountOf(p, c)
	if !ok {
		return nil, errors.New("no volume is mounted there")
	}
	for _, v := range tmpl.Spec.Volumes {
		if v.Name != m.Name {
			continue
		}
		var kind, name string
		var items []corev1.KeyToPath
		switch {
		case v.ConfigMap != nil:
			kind, name, items = "ConfigMap", v.ConfigMap.Name, v.ConfigMap.Items
		case v.Secret != nil:
			kind, name, items = "Secret", v.Secret.SecretName, v.Secret.Items
		default:
			return nil, fmt.Errorf("volume %s is neither a ConfigMap nor a Secret", v.Name)
		}
		data, err := dataOf(kind, name, ns, objs)
		if err != nil {
			return nil, err
		}
		key := rel
		if m.SubPath != "" {
			key = m.SubPath
		}
		for _, it := range items {
			if it.Path == key {
				key = it.Key
			}
		}
		s, ok := data[key]
		if !ok {
			return nil, fmt.Errorf("%s %s (volume %s) has no key %q", kind, name, v.Name, key)
		}
		return []byte(s), nil
	}
	return nil, fmt.Errorf("the pod has no volume %s", m.Name)
}

// mountOf finds the mount of c that holds path p and p's path inside it.
func mountOf(p string, c corev1.Container) (corev1.VolumeMount, string, bool) {
	var best corev1.VolumeMount
	var rel string
	found := false
	for _, m := range c.VolumeMounts {
		r, err := filepath.Rel(m.MountPath, p)
		if err != nil || r == ".." || strings.HasPrefix(r, "../") {
			continue
		}
		if !found || len(m.MountPath) > len(best.MountPath) {
			best, rel, found = m, r, true
		}
	}
	return best, rel, found
}

// persistent reports whether file p of container c is on a volume that
// outlives the pod.
func persistent(p string, tmpl *corev1.PodTemplateSpec, claims []string, c corev1.Container) bool {
	if !path.IsAbs(p) {
		p = path.Join("/", p) // the image's working directory is /
	}
	m, _, ok := mountOf(p, c)
	if !ok {
		return false
	}
	if slices.Contains(claims, m.Name) {
		return true
	}
	for _, v := range tmpl.Spec.Volumes {
		if v.Name == m.Name {
			return v.PersistentVolumeClaim != nil
		}
	}
	return false
}

// checkServices checks that every Service selects some workload's pods and
// that they have the ports it targets.
func checkServices(objs []object) []string {
	var problems []string
	for _, o := range objs {
		svc, ok := o.obj.(*corev1.Service)
		if !ok || len(svc.Spec.Selector) == 0 {
			continue
		}
		var pods []*corev1.PodTemplateSpec
		for _, w := range objs {
			if t, _ := podTemplate(w.obj); t != nil && w.namespace == o.namespace && selects(svc.Spec.Selector, t.Labels) {
				pods = append(pods, t)
			}
		}
		if len(pods) == 0 {
			problems = append(problems, fmt.Sprintf("%s: selector %v matches the pods of no workload", o, svc.Spec.Selector))
			continue
		}
		for _, sp := range svc.Spec.Ports {
			target := sp.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(sp.Port)
			}
			for _, t := range pods {
				if !hasPort(t, target) {
					problems = append(problems, fmt.Sprintf("%s: port %s targets %s, which the pods of %v do not have",
						o, sp.Name, target.String(), svc.Spec.Selector))
				}
			}
		}
	}
	return problems
}

func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func hasPort(t *corev1.PodTemplateSpec, target intstr.IntOrString) bool {
	for _, c := range t.Spec.Containers {
		for _, p := range c.Ports {
			if (target.Type == intstr.String && p.Name == target.StrVal) || (target.Type == intstr.Int && p.ContainerPort == target.IntVal) {
				return true
			}
		}
	}
	return false
}

// checkKind decodes kind-config.yaml strictly and checks its port mappings
// against the NodePorts of the dev overlay.
func checkKind(data []byte, dev []object) []string {
	var cluster kind.Cluster
	if err := yaml.UnmarshalStrict(data, &cluster); err != nil {
		return []string{err.Error()}
	}
	var problems []string
	if cluster.Kind != "Cluster" || cluster.APIVersion != "kind.x-k8s.io/v1alpha4" {
		problems = append(problems, fmt.Sprintf("kind %q, apiVersion %q: want Cluster, kind.x-k8s.io/v1alpha4", cluster.Kind, cluster.APIVersion))
	}
	mappings := map[int32]int32{} // host port → node port
	for _, n := range cluster.Nodes {
		for _, m := range n.ExtraPortMappings {
			mappings[m.HostPort] = m.ContainerPort
		}
	}
	for _, e := range exposed {
		nodePort, ok := mappings[e.host]
		if !ok {
			problems = append(problems, fmt.Sprintf("no extraPortMapping for host port %d (%s %s)", e.host, e.app, e.port))
			continue
		}
		if !nodePortOf(dev, nodePort, e.app, e.port) {
			problems = append(problems, fmt.Sprintf("host port %d maps to node port %d, which is not a NodePort of %s's port %s in %s",
				e.host, nodePort, e.app, e.port, devOverlay))
		}
	}
	return problems
}

func nodePortOf(objs []object, nodePort int32, app, port string) bool {
	for _, o := range objs {
		svc, ok := o.obj.(*corev1.Service)
		if !ok || svc.Spec.Type != corev1.ServiceTypeNodePort || svc.Spec.Selector["app.kubernetes.io/name"] != app {
			continue
		}
		for _, p := range svc.Spec.Ports {
			if p.NodePort == nodePort && p.TargetPort.String() == port {
				return true
			}
		}
	}
	return false
}

// evented runs the evented binary.
type evented struct{ bin string }

// envNames lists the variables evented reads (evented config env).
func (e evented) envNames() (map[string]bool, error) {
	out, err := exec.Command(e.bin, "config", "env").Output()
	if err != nil {
		return nil, fmt.Errorf("evented config env: %w", err)
	}
	names := map[string]bool{}
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) > 0 {
			names[f[0]] = true
		}
	}
	if !names["EVENTED_CONFIG"] || !names["STORAGE_PATH"] {
		return nil, fmt.Errorf("evented config env printed no EVENTED_CONFIG or STORAGE_PATH:\n%s", out)
	}
	return names, nil
}

// effective is the part of evented's effective configuration checked here.
type effective struct {
	Server  map[string]int `json:"-"`
	TLS     bool           `json:"-"` // server.tls.cert_file is set
	MTLS    bool           `json:"-"` // and server.tls.client_ca_file
	Storage struct {
		Type string `json:"type"`
		Path string `json:"path"`
	} `json:"storage"`
}

// load has evented validate and print the configuration a container with
// env would load, from file (none when nil).
func (e evented) load(file []byte, env map[string]string) (effective, error) {
	dir, err := os.MkdirTemp("", "evented-check-config-")
	if err != nil {
		return effective{}, err
	}
	defer os.RemoveAll(dir)
	environ := []string{}
	for k, v := range env {
		if k != "EVENTED_CONFIG" {
			environ = append(environ, k+"="+v)
		}
	}
	if file != nil {
		p := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(p, file, 0o600); err != nil {
			return effective{}, err
		}
		environ = append(environ, "EVENTED_CONFIG="+p)
	}
	runEvented := func(args ...string) ([]byte, error) {
		cmd := exec.Command(e.bin, args...)
		cmd.Env, cmd.Dir = environ, dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("evented %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return out, nil
	}
	if _, err := runEvented("config", "validate"); err != nil {
		return effective{}, err
	}
	out, err := runEvented("config", "print")
	if err != nil {
		return effective{}, err
	}
	var cfg effective
	var raw struct {
		Server map[string]any `json:"server"`
	}
	if err := yaml.Unmarshal(out, &cfg); err != nil {
		return effective{}, fmt.Errorf("evented config print: %w", err)
	}
	if err := yaml.Unmarshal(out, &raw); err != nil {
		return effective{}, fmt.Errorf("evented config print: %w", err)
	}
	cfg.Server = map[string]int{}
	for k, v := range raw.Server {
		if f, ok := v.(float64); ok {
			cfg.Server[k] = int(f)
		}
	}
	if tls, ok := raw.Server["tls"].(map[string]any); ok {
		cfg.TLS = tls["cert_file"] != nil && tls["cert_file"] != ""
		cfg.MTLS = cfg.TLS && tls["client_ca_file"] != nil && tls["client_ca_file"] != ""
	}
	return cfg, nil
}
