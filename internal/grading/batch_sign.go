package grading

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// A batch trusts, on a re-run or in a merge, only the reports it can
// verify it wrote itself: each report.json (and batch.json) has a
// <file>.sig beside it holding an HMAC-SHA256 of its bytes under a key kept
// outside --out. A report a submission (or anyone) wrote or changed has no
// valid signature and is graded again.

// BatchKeyEnv sets the signing key (any string of 16 bytes or more); CI
// jobs and shards that are merged later share it this way.
const BatchKeyEnv = "GRADER_BATCH_KEY"

// sigSuffix names a signature file: report.json.sig.
const sigSuffix = ".sig"

// sigPrefix starts a signature file's content.
const sigPrefix = "hmac-sha256:"

// BatchKey is the key that signs a batch's reports.
type BatchKey struct {
	key    []byte
	Source string // where it came from, for messages
}

// LoadBatchKey returns the signing key: $GRADER_BATCH_KEY when set, else
// the key file in the user's config directory (grader/batch.key), created
// with a random key (mode 0600) on first use.
func LoadBatchKey() (BatchKey, error) {
	if v, ok := os.LookupEnv(BatchKeyEnv); ok {
		if len(v) < 16 {
			return BatchKey{}, Usagef("%s is %d bytes long: give a secret of at least 16 bytes (for instance: openssl rand -hex 32)", BatchKeyEnv, len(v))
		}
		return BatchKey{key: []byte(v), Source: "$" + BatchKeyEnv}, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return BatchKey{}, &EnvError{Message: fmt.Sprintf("no place for the key that signs batch reports: %v", err),
			Fix: fmt.Sprintf("set HOME (or XDG_CONFIG_HOME), or give the key in %s", BatchKeyEnv)}
	}
	return loadKeyFile(filepath.Join(dir, "grader", "batch.key"))
}

func loadKeyFile(path string) (BatchKey, error) {
	fix := fmt.Sprintf("remove %s to have a new one made (reports signed with the old key are then graded again), or set %s", path, BatchKeyEnv)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return BatchKey{}, &EnvError{Message: fmt.Sprintf("cannot create %s for the key that signs batch reports: %v", filepath.Dir(path), err), Fix: fix}
		}
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return BatchKey{}, &EnvError{Message: fmt.Sprintf("cannot make a signing key: %v", err)}
		}
		data = []byte(hex.EncodeToString(raw) + "\n")
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) { // another grader made it first
			return loadKeyFile(path)
		}
		if err != nil {
			return BatchKey{}, &EnvError{Message: fmt.Sprintf("cannot create the signing key %s: %v", path, err), Fix: fix}
		}
		_, werr := f.Write(data)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return BatchKey{}, &EnvError{Message: fmt.Sprintf("cannot write the signing key %s: %v", path, werr), Fix: fix}
		}
	} else if err != nil {
		return BatchKey{}, &EnvError{Message: fmt.Sprintf("cannot read the signing key %s: %v", path, err), Fix: fix}
	} else if info, err := os.Stat(path); err == nil && info.Mode().Perm()&0o077 != 0 {
		return BatchKey{}, &EnvError{Message: fmt.Sprintf("the signing key %s can be read by other users (mode %04o)", path, info.Mode().Perm()),
			Fix: fmt.Sprintf("chmod 600 %s, or %s", path, fix)}
	}
	key := strings.TrimSpace(string(data))
	if len(key) < 16 {
		return BatchKey{}, &EnvError{Message: fmt.Sprintf("the signing key %s is too short", path), Fix: fix}
	}
	return BatchKey{key: []byte(key), Source: path}, nil
}

// sum is the HMAC-SHA256 of data.
func (k BatchKey) sum(data []byte) []byte {
	m := hmac.New(sha256.New, k.key)
	m.Write(data)
	return m.Sum(nil)
}

// writeSigned writes data to path and its signature to path.sig, each
// atomically (a temporary file renamed).
func (k BatchKey) writeSigned(path string, data []byte) error {
	if len(k.key) == 0 {
		return errors.New("no signing key (a grader bug)")
	}
	if err := writeFileAtomic(path, data); err != nil {
		return err
	}
	return writeFileAtomic(path+sigSuffix, []byte(sigPrefix+hex.EncodeToString(k.sum(data))+"\n"))
}

// sign writes the signature of the file at path (already written by the
// grader) beside it.
func (k BatchKey) sign(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return writeFileAtomic(path+sigSuffix, []byte(sigPrefix+hex.EncodeToString(k.sum(data))+"\n"))
}

// errUnsigned: a file's signature is missing or does not match it.
var errUnsigned = errors.New("not signed by this grader's key")

// readVerified reads path and checks its signature. It returns
// errUnsigned (wrapped) when the signature is missing or wrong, and the
// read error when the file cannot be read.
func (k BatchKey) readVerified(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sig, err := os.ReadFile(path + sigSuffix)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (no %s)", filepath.Base(path), errUnsigned, filepath.Base(path)+sigSuffix)
	}
	want, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(string(sig)), sigPrefix))
	if err != nil || !hmac.Equal(want, k.sum(data)) {
		return nil, fmt.Errorf("%s: %w (changed after the grader wrote it, or signed with another key)", filepath.Base(path), errUnsigned)
	}
	return data, nil
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory, so that a reader never sees half of it.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return fmt.Errorf("cannot write %s: %v", path, err)
	}
	werr := f.Chmod(0o644)
	if werr == nil {
		_, werr = f.Write(data)
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		os.Remove(f.Name())
		return fmt.Errorf("cannot write %s: %v", path, werr)
	}
	return nil
}
