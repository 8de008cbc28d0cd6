package grading

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var testKey = BatchKey{key: []byte("a test key of sixteen bytes or more"), Source: "test"}

func TestKeyFileIsMadeOnceAndPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grader", "batch.key")
	k1, err := loadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	k2, err := loadKeyFile(path)
	if err != nil || string(k1.key) != string(k2.key) || len(k1.key) < 32 {
		t.Errorf("second load: %v; want the same key of 32+ bytes", err)
	}
	os.Chmod(path, 0o644)
	if _, err := loadKeyFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a key others can read: err = %v, want a refusal saying chmod 600", err)
	}
}

func TestBatchKeyFromEnv(t *testing.T) {
	t.Setenv(BatchKeyEnv, "short")
	var ue *UsageError
	if _, err := LoadBatchKey(); !errors.As(err, &ue) {
		t.Errorf("a short key: err = %v, want a usage error", err)
	}
	t.Setenv(BatchKeyEnv, "0123456789abcdef-ci-secret")
	k, err := LoadBatchKey()
	if err != nil || string(k.key) != "0123456789abcdef-ci-secret" {
		t.Errorf("key from env: %q, %v", k.key, err)
	}
}

func TestSignedFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report.json")
	if err := testKey.writeSigned(path, []byte(`{"score": 1}`)); err != nil {
		t.Fatal(err)
	}
	if data, err := testKey.readVerified(path); err != nil || string(data) != `{"score": 1}` {
		t.Fatalf("readVerified = %q, %v", data, err)
	}
	if _, err := (BatchKey{key: []byte("some other key, long enough")}).readVerified(path); !errors.Is(err, errUnsigned) {
		t.Errorf("another key: err = %v, want errUnsigned", err)
	}
	os.WriteFile(path, []byte(`{"score": 9}`), 0o644)
	if _, err := testKey.readVerified(path); !errors.Is(err, errUnsigned) {
		t.Errorf("changed file: err = %v, want errUnsigned", err)
	}
	os.Remove(path + sigSuffix)
	if _, err := testKey.readVerified(path); !errors.Is(err, errUnsigned) {
		t.Errorf("no signature: err = %v, want errUnsigned", err)
	}
}
