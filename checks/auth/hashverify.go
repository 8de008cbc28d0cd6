package auth

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/pbkdf2"
	"golang.org/x/crypto/scrypt"
)

// verifyHash compares password with an encoded hash of the given format
// (one of hashFormats' names) with that format's own algorithm. checked is
// false when the encoding is one the grader cannot parse (a rarer variant
// of scrypt or pbkdf2): the format alone is then all it can judge. A
// digest dressed in a hash's format fails here (DESIGN §3.2: verify
// content, not format).
func verifyHash(format, encoded, password string) (ok, checked bool) {
	pw := []byte(password)
	switch format {
	case "bcrypt":
		// A cost above 14 would take the grader minutes: format only.
		if cost, err := bcrypt.Cost([]byte(encoded)); err != nil || cost > 14 {
			return false, false
		}
		return bcrypt.CompareHashAndPassword([]byte(encoded), pw) == nil, true
	case "argon2":
		return verifyArgon2(encoded, pw)
	case "scrypt":
		// Werkzeug: scrypt:N:r:p$salt$hexhash
		if rest, found := strings.CutPrefix(encoded, "scrypt:"); found {
			params, salt, sum, ok := splitWerkzeug(rest)
			if !ok || len(params) != 3 {
				return false, false
			}
			n, r, p := atoi(params[0]), atoi(params[1]), atoi(params[2])
			if n > 1<<20 || r > 32 || p > 16 { // too costly to recompute here
				return false, false
			}
			key, err := scrypt.Key(pw, []byte(salt), n, r, p, len(sum))
			if err != nil {
				return false, false
			}
			return subtle.ConstantTimeCompare(key, sum) == 1, true
		}
	case "pbkdf2":
		// Werkzeug: pbkdf2:sha256:iterations$salt$hexhash
		if rest, found := strings.CutPrefix(encoded, "pbkdf2:"); found {
			params, salt, sum, ok := splitWerkzeug(rest)
			if !ok || len(params) != 2 || newHash(params[0]) == nil || atoi(params[1]) < 1 || atoi(params[1]) > 5_000_000 {
				return false, false
			}
			key := pbkdf2.Key(pw, []byte(salt), atoi(params[1]), len(sum), newHash(params[0]))
			return subtle.ConstantTimeCompare(key, sum) == 1, true
		}
		// Django: pbkdf2_sha256$iterations$salt$base64hash
		if parts := strings.Split(encoded, "$"); len(parts) == 4 && strings.HasPrefix(parts[0], "pbkdf2_") {
			hf := newHash(strings.TrimPrefix(parts[0], "pbkdf2_"))
			sum, err := base64.StdEncoding.DecodeString(parts[3])
			if hf == nil || err != nil || atoi(parts[1]) < 1 || atoi(parts[1]) > 5_000_000 {
				return false, false
			}
			key := pbkdf2.Key(pw, []byte(parts[2]), atoi(parts[1]), len(sum), hf)
			return subtle.ConstantTimeCompare(key, sum) == 1, true
		}
	}
	return false, false
}

// verifyArgon2 checks the PHC string $argon2id$v=19$m=..,t=..,p=..$salt$hash.
func verifyArgon2(encoded string, pw []byte) (ok, checked bool) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || (parts[1] != "argon2id" && parts[1] != "argon2i") {
		return false, false
	}
	var m, t, p int
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "m":
			m = atoi(v)
		case "t":
			t = atoi(v)
		case "p":
			p = atoi(v)
		}
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(strings.TrimRight(parts[4], "="))
	sum, err2 := b64.DecodeString(strings.TrimRight(parts[5], "="))
	if err1 != nil || err2 != nil || m < 1 || t < 1 || p < 1 || p > 255 || len(sum) == 0 || m > 1<<19 || t > 16 {
		return false, false
	}
	var key []byte
	if parts[1] == "argon2id" {
		key = argon2.IDKey(pw, salt, uint32(t), uint32(m), uint8(p), uint32(len(sum)))
	} else {
		key = argon2.Key(pw, salt, uint32(t), uint32(m), uint8(p), uint32(len(sum)))
	}
	return subtle.ConstantTimeCompare(key, sum) == 1, true
}

// splitWerkzeug splits "a:b:c$salt$hexhash" (the method's prefix removed).
func splitWerkzeug(s string) (params []string, salt string, sum []byte, ok bool) {
	parts := strings.Split(s, "$")
	if len(parts) != 3 {
		return nil, "", nil, false
	}
	sum, err := hex.DecodeString(parts[2])
	if err != nil || len(sum) == 0 {
		return nil, "", nil, false
	}
	return strings.Split(parts[0], ":"), parts[1], sum, true
}

func newHash(name string) func() hash.Hash {
	switch name {
	case "sha1":
		return sha1.New
	case "sha256":
		return sha256.New
	case "sha512":
		return sha512.New
	}
	return nil
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return n
}
