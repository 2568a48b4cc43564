package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// bin builds evented once for the tests of this package.
func bin(t *testing.T) evented {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "evented-check-test-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "evented")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/evented")
		cmd.Dir = "../.."
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = err
			t.Log(string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return evented{bin: binPath}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// TestManifests is the check CI runs: the repository's manifests have no
// problems.
func TestManifests(t *testing.T) {
	problems, err := run("../..", bin(t).bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// good is a small valid manifest; the cases below break one thing each.
const good = `apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: ns
data:
  config.yaml: |
    storage: {type: sqlite, path: /data/events.db}
    server: {command_handler_port: 1313, event_query_port: 1314}
---
apiVersion: v1
kind: Service
metadata:
  name: evented
  namespace: ns
spec:
  selector:
    app: evented
  ports:
    - name: command
      port: 1313
      targetPort: command
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: evented
  namespace: ns
spec:
  serviceName: evented
  selector:
    matchLabels:
      app: evented
  template:
    metadata:
      labels:
        app: evented
    spec:
      enableServiceLinks: false
      containers:
        - name: evented
          image: localhost/evented:dev
          env:
            - name: EVENTED_CONFIG
              value: /etc/evented/config.yaml
            - name: STORAGE_PATH
              value: /data/events.db
            - name: GOMEMLIMIT
              value: 400MiB
          ports:
            - name: command
              containerPort: 1313
            - name: query
              containerPort: 1314
            - name: admin
              containerPort: 1315
          readinessProbe:
            httpGet:
              path: /readyz
              port: admin
          livenessProbe:
            httpGet:
              path: /healthz
              port: 1315
          volumeMounts:
            - name: data
              mountPath: /data
            - name: config
              mountPath: /etc/evented
      volumes:
        - name: config
          configMap:
            name: cfg
  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        accessModes: ["ReadWriteOnce"]
        resources:
          requests:
            storage: 1Gi
`

func problemsOf(t *testing.T, manifest string) []string {
	t.Helper()
	ev := bin(t)
	known, err := ev.envNames()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := parse([]byte(manifest))
	if err != nil {
		t.Fatal(err)
	}
	return check(objs, ev, known)
}

func TestCheck(t *testing.T) {
	if p := problemsOf(t, good); len(p) != 0 {
		t.Fatalf("the good manifest has problems: %q", p)
	}
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"unknown field", "  serviceName: evented\n", "  serviceName: evented\n  replica: 1\n", `unknown field "spec.replica"`},
		{"misplaced field", "          image: localhost/evented:dev\n", "          image: localhost/evented:dev\n          mountPath: /x\n", `unknown field "spec.template.spec.containers[0].mountPath"`},
		{"wrong type", "containerPort: 1314", "containerPort: query", "containerPort"},
		{"unknown variable", "name: STORAGE_PATH", "name: STORAGE_PTH", "sets STORAGE_PTH, which evented does not read"},
		{"service links", "      enableServiceLinks: false\n", "", "enableServiceLinks: false"},
		{"invalid config", "type: sqlite, path", "type: floppy, path", `storage.type: invalid value "floppy"`},
		{"invalid env value", "value: 400MiB", "value: 400MiB\n            - name: EVENTED_COMMAND__TIMEOUT\n              value: soon", "command.timeout"},
		{"port mismatch", "containerPort: 1314", "containerPort: 1315", `container port "query" is 1315, but evented listens on server.event_query_port 1314`},
		{"config not mounted", "value: /etc/evented/config.yaml", "value: /etc/other/config.yaml", "EVENTED_CONFIG /etc/other/config.yaml: no volume is mounted there"},
		{"config key missing", "  config.yaml: |", "  other.yaml: |", `has no key "config.yaml"`},
		{"not persistent", "value: /data/events.db", "value: /tmp/events.db", "storage.path /tmp/events.db is not on a persistent volume"},
		{"selector", "  selector:\n    app: evented\n  ports:", "  selector:\n    app: evnted\n  ports:", "matches the pods of no workload"},
		{"target port", "targetPort: command", "targetPort: metrics", "port command targets metrics"},
		{"no admin port", "            - name: admin\n              containerPort: 1315\n", "", `container port "admin" is 0, but evented listens on server.admin_port 1315`},
		{"admin port off", "event_query_port: 1314}", "event_query_port: 1314, admin_port: -1}", "server.admin_port is off"},
		{"no readiness probe", "          readinessProbe:\n            httpGet:\n              path: /readyz\n              port: admin\n", "", "readinessProbe: want an httpGet of /readyz on the admin port"},
		{"readiness on gRPC", "          readinessProbe:\n            httpGet:\n              path: /readyz\n              port: admin\n", "          readinessProbe:\n            grpc:\n              port: 1313\n", "readinessProbe: want an httpGet of /readyz"},
		{"two handlers", "              path: /readyz\n              port: admin\n", "              path: /readyz\n              port: admin\n            grpc:\n              port: 1313\n", "readinessProbe: an httpGet and another handler"},
		{"readiness path", "path: /readyz", "path: /healthz", "readinessProbe: httpGet of /healthz on port admin, want /readyz"},
		{"liveness port", "              port: 1315\n", "              port: 1314\n", "livenessProbe: httpGet of /healthz on port 1314, want /healthz on the admin port (1315)"},
		{"scheme with TLS", "event_query_port: 1314}", "event_query_port: 1314, tls: {cert_file: /tls/tls.crt, key_file: /tls/tls.key}}", "readinessProbe: scheme HTTP, but the admin port speaks HTTPS"},
		{"no evented", "        - name: evented\n", "        - name: server\n", `no workload has a container named "evented"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.old) {
				t.Fatalf("the good manifest lacks %q", tc.old)
			}
			problems := problemsOf(t, strings.Replace(good, tc.old, tc.new, 1))
			if !strings.Contains(strings.Join(problems, "\n"), tc.want) {
				t.Errorf("want a problem containing %q, got %q", tc.want, problems)
			}
		})
	}
}

func TestCheckKind(t *testing.T) {
	dev, err := render("../overlays/dev")
	if err != nil {
		t.Fatal(err)
	}
	ev := bin(t)
	known, err := ev.envNames()
	if err != nil {
		t.Fatal(err)
	}
	if p := check(dev, ev, known); len(p) != 0 {
		t.Fatalf("dev overlay: %q", p)
	}
	kc, err := os.ReadFile("../../kind-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p := checkKind(kc, dev); len(p) != 0 {
		t.Fatalf("kind-config.yaml: %q", p)
	}
	for _, tc := range []struct{ old, new, want string }{
		{"hostPort: 50052", "hostPort: 50053", "no extraPortMapping for host port 50052 (evented query)"},
		{"containerPort: 30051", "containerPort: 30052", "host port 50051 maps to node port 30052, which is not a NodePort of evented's port command"},
		{"listenAddress: 127.0.0.1\n", "listenAddress: 127.0.0.1\n        hostIP: 1.2.3.4\n", `unknown field "hostIP"`},
	} {
		changed := strings.Replace(string(kc), tc.old, tc.new, 1)
		if changed == string(kc) {
			t.Fatalf("kind-config.yaml lacks %q", tc.old)
		}
		if p := checkKind([]byte(changed), dev); !strings.Contains(strings.Join(p, "\n"), tc.want) {
			t.Errorf("%s → %s: want a problem containing %q, got %q", tc.old, tc.new, tc.want, p)
		}
	}
}
