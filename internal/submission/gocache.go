package submission

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// A cold Go build of a typical submission (pgx, go-redis, amqp091, the
// Prometheus client) takes about two minutes on one CPU, nearly all of it
// compiling the dependencies. So that a batch pays that once, the sandbox
// keeps a Go build and module cache shared by the batch's submissions,
// which only the grader's own command writes:
//
//  1. warm: `go build` of the project's dependencies (not of its own
//     packages), with the copy mounted read-only. A Go build runs none of
//     the code it compiles (cgo's flags are held to Go's allowlist), and every
//     cache entry is keyed by the hash of its inputs, so whatever a
//     submission's sources say, the shared cache only gains entries the
//     compiler made from those inputs;
//  2. snapshot: the submission gets a private copy of the shared caches in
//     its own copy (hard links, read-only to it, when the grader runs as
//     root; else a plain copy), which its own build command may use and
//     change without touching anyone else's.

var warmLocks sync.Map // shared cache dir -> *sync.Mutex

// warmUID writes the shared caches when the grader runs as root: not the
// submissions' user, so that hard links to its files stay read-only to them.
const warmUID = 10002

// warmGo fills the shared cache with the project's dependencies and gives
// the submission its snapshot. Any failure only means a slower build.
func (b *Box) warmGo(ctx context.Context, cfg Config, image string) {
	shared := b.sandbox.SharedCache
	m := cfg.Manifest
	if shared == "" || !exists(filepath.Join(m.Dir, "go.mod")) {
		return
	}
	started := time.Now()
	// One warm at a time per shared cache: the second finds the first's work.
	mu, _ := warmLocks.LoadOrStore(shared, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	build, mod := filepath.Join(shared, "go-build"), filepath.Join(shared, "go-mod")
	user := fmt.Sprintf("%d:%d", os.Geteuid(), os.Getegid())
	root := os.Geteuid() == 0
	if root {
		user = fmt.Sprintf("%d:%d", warmUID, warmUID)
	}
	for _, d := range []string{build, mod} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.logf("no shared Go cache (%v): the build compiles everything", err)
			return
		}
		if root {
			_ = os.Chown(d, warmUID, warmUID)
		}
	}
	work, err := os.MkdirTemp(shared, "work-")
	if err != nil {
		b.logf("no shared Go cache (%v): the build compiles everything", err)
		return
	}
	defer os.RemoveAll(work)
	if root {
		_ = os.Chown(work, warmUID, warmUID)
	}
	// The caches are mounted where the submission's build will find its
	// snapshot: the modules' paths are part of each compile's cache key.
	cache := filepath.Join(m.Dir, ".grader-cache")
	for _, d := range []string{"go-build", "go-mod", "go-tmp"} {
		if err := os.MkdirAll(filepath.Join(cache, d), 0o755); err != nil {
			b.logf("no shared Go cache (%v): the build compiles everything", err)
			return
		}
	}
	env := b.toolEnv()
	env["GOFLAGS"] = "-mod=readonly"
	// Its own packages are left out: only what they import is compiled.
	script := `pkgs=$(go list -deps -f '{{if and .Module (not .Module.Main) (not .Standard)}}{{.ImportPath}}{{end}}' ./...) && ` +
		`if [ -n "$pkgs" ]; then go build $pkgs; fi`
	hc := b.hostConfig(m, cfg.Limits, buildNetwork)
	hc.Binds = []string{m.Dir + ":" + appDir + ":ro", build + ":" + env["GOCACHE"], mod + ":" + env["GOMODCACHE"], work + ":" + env["GOTMPDIR"]}
	forBuild(hc, env)
	hc.NanoCPUs = 0 // the grader's own command: every CPU the machine gives
	if b.sandbox.ModCache != "" {
		hc.Binds = append(hc.Binds, b.sandbox.ModCache+":"+modCacheDir+":ro")
	}
	ring := newLineRing(20)
	c, err := b.start(ctx, containerSpec{image: image, script: script, user: user, env: env, host: hc}, ring, nil, "")
	if err == nil {
		select {
		case <-c.exited:
		case <-ctx.Done():
		}
		c.stop(context.WithoutCancel(ctx))
		if c.code != 0 {
			b.logf("compiling the dependencies into the batch's shared cache failed (%s): the build compiles them itself", c.reason)
		}
	}
	if ctx.Err() != nil {
		return
	}
	for src, dst := range map[string]string{build: filepath.Join(cache, "go-build"), mod: filepath.Join(cache, "go-mod")} {
		if err := snapshot(src, dst, root); err != nil {
			b.logf("could not give the submission the shared Go cache (%v): the build compiles everything", err)
			_ = os.RemoveAll(dst)
			return
		}
	}
	b.logf("dependencies compiled into the batch's shared Go cache and snapshotted in %s", time.Since(started).Round(100*time.Millisecond))
}

// snapshot makes dst a copy of the tree src: hard links when link (the
// files stay read-only to the submission), else copied files. Lock files
// are left out: the submission's go makes its own.
func snapshot(src, dst string, link bool) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case !d.Type().IsRegular(), d.Name() == "lock", strings.HasSuffix(d.Name(), ".lock"), strings.HasSuffix(d.Name(), ".partial"):
			return nil
		case link:
			if err := os.Link(path, target); err == nil || os.IsExist(err) {
				return nil
			}
		}
		return copyFile(path, target)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if os.IsExist(err) {
			return nil
		}
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
