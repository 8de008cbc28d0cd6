package grading

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Shard is the I-th of N slices of a batch (1 <= I <= N); the zero Shard
// is the whole batch.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// IsSet reports whether s is a slice rather than the whole batch.
func (s Shard) IsSet() bool { return s.Count > 0 }

// ParseShard reads --shard I/N: I from 1 to N.
func ParseShard(v string) (Shard, error) {
	i, n, ok := strings.Cut(v, "/")
	idx, err1 := strconv.Atoi(strings.TrimSpace(i))
	cnt, err2 := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err1 != nil || err2 != nil || cnt < 1 || cnt > 1000 || idx < 1 || idx > cnt {
		return Shard{}, Usagef("--shard %q: give I/N with 1 <= I <= N <= 1000, e.g. --shard 2/3 for the second of three slices", v)
	}
	return Shard{Index: idx, Count: cnt}, nil
}

// ShardOf keeps the submissions of shard s: the submissions sorted by name
// are dealt round-robin, the first to shard 1, the second to shard 2, ...
// the N+1-th to shard 1 again. Every shard must be given the same
// submissions (the same DIRs or --list).
func ShardOf[T any](sorted []T, s Shard) []T {
	if !s.IsSet() {
		return sorted
	}
	var out []T
	for i, x := range sorted {
		if i%s.Count == s.Index-1 {
			out = append(out, x)
		}
	}
	return out
}

// ManifestFile records, in --out, what a batch graded: the stage and
// selection its grades depend on, its shard, and its submissions. It is
// signed like the reports.
const ManifestFile = "batch.json"

type batchManifest struct {
	SchemaVersion int      `json:"schemaVersion"`
	Stage         string   `json:"stage"`
	Seed          *int64   `json:"seed,omitempty"` // only with --seed
	Only          bool     `json:"only,omitempty"`
	Checks        []string `json:"checks,omitempty"`
	EnvDigest     string   `json:"envDigest,omitempty"` // of --env, which may hold secrets
	Shard         *Shard   `json:"shard,omitempty"`
	Total         int      `json:"total"` // submissions before sharding
	Submissions   []string `json:"submissions"`
}

func newManifest(sel Selection, shard Shard, total int, names []string) batchManifest {
	m := batchManifest{SchemaVersion: 1, Stage: sel.Stage, Only: sel.Only, Total: total, Submissions: names}
	if sel.SeedSet {
		seed := sel.Seed
		m.Seed = &seed
	}
	if len(sel.Checks) > 0 {
		m.Checks = slices.Sorted(slices.Values(sel.Checks))
	}
	if len(sel.Env) > 0 {
		sum := sha256.Sum256([]byte(strings.Join(sel.Env, "\x00")))
		m.EnvDigest = hex.EncodeToString(sum[:8])
	}
	if shard.IsSet() {
		m.Shard = &shard
	}
	if m.Submissions == nil {
		m.Submissions = []string{}
	}
	return m
}

// selection is what a manifest's grades depend on, as one comparable line.
func (m batchManifest) selection() string {
	seed := "a random seed per submission"
	if m.Seed != nil {
		seed = fmt.Sprintf("seed %d", *m.Seed)
	}
	s := fmt.Sprintf("stage %s, %s", m.Stage, seed)
	if m.Only {
		s += ", --only"
	}
	if len(m.Checks) > 0 {
		s += ", --check " + strings.Join(m.Checks, ",")
	}
	if m.EnvDigest != "" {
		s += ", --env (digest " + m.EnvDigest + ")"
	}
	return s
}

func (k BatchKey) writeManifest(dir string, m batchManifest) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return k.writeSigned(filepath.Join(dir, ManifestFile), append(data, '\n'))
}

// readManifest reads and verifies dir's batch.json; fs.ErrNotExist when
// there is none.
func (k BatchKey) readManifest(dir string) (batchManifest, error) {
	var m batchManifest
	data, err := k.readVerified(filepath.Join(dir, ManifestFile))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(data, &m); err != nil || m.SchemaVersion != 1 {
		return m, fmt.Errorf("%s: not a batch manifest this grader can read", filepath.Join(dir, ManifestFile))
	}
	return m, nil
}

// checkOutShard refuses an --out that holds another shard's (or the whole
// batch's) output: each shard writes its own directory.
func (k BatchKey) checkOutShard(out string, shard Shard, force bool) error {
	m, err := k.readManifest(out)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errUnsigned) || force {
		return nil // nothing earlier, or nothing the grader can trust: its reports are graded again
	}
	if err != nil {
		return nil
	}
	was := "the whole batch"
	if m.Shard != nil {
		was = "shard " + m.Shard.String()
	}
	now := "the whole batch"
	if shard.IsSet() {
		now = "shard " + shard.String()
	}
	if (m.Shard == nil) != !shard.IsSet() || (m.Shard != nil && *m.Shard != shard) {
		return Usagef("--out %s holds the output of %s, and this run grades %s: give each shard its own --out (then 'grader merge'), or --force", out, was, now)
	}
	return nil
}
