package expect

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Time parses an RFC 3339 timestamp in any of its forms: fractional
// seconds of any length, any offset, "t" and "z" in lower case, and a space
// for the "T" (RFC 3339 section 5.6 allows it).
func Time(s string) (time.Time, error) {
	norm := s
	if len(norm) > 10 && (norm[10] == ' ' || norm[10] == 't') {
		norm = norm[:10] + "T" + norm[11:]
	}
	if strings.HasSuffix(norm, "z") {
		norm = norm[:len(norm)-1] + "Z"
	}
	t, err := time.Parse(time.RFC3339Nano, norm)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time such as \"2026-01-02T15:04:05Z\"", s)
	}
	return t, nil
}

// IsUUID reports whether s is a UUID in its canonical 36-character form.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// RandomUUID returns a random (version 4) UUID drawn from r, for ids that
// look valid but do not exist.
func RandomUUID(r *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return uuid.UUID(b).String()
}

// Word returns n random lower-case ASCII letters, e.g. a marker that makes
// a check's data easy to find.
func Word(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + r.IntN(26))
	}
	return string(b)
}

// words are the pieces random titles are made of: several scripts, accents,
// an emoji (outside the BMP), and characters that need escaping in JSON or
// HTML, so that byte counting, escaping and encoding mistakes show.
var words = []string{
	"Buy", "milk", "Call", "Ünïcödé", "café", "naïve", "Füße", "Straße",
	"東京", "日本語", "데이터", "Ελληνικά", "Москва", "עברית", "عربي", "हिन्दी",
	"🚀", "✓", "—", "<b>", "&", "\"quoted\"", "50%", "under_score",
}

// Title returns a random human-looking title of 3 to 6 words in mixed
// scripts, with a random number so that titles differ between checks.
func Title(r *rand.Rand) string {
	n := 3 + r.IntN(4)
	parts := make([]string, 0, n+1)
	for range n {
		parts = append(parts, words[r.IntN(len(words))])
	}
	parts = append(parts, fmt.Sprintf("#%04d", r.IntN(10000)))
	return strings.Join(parts, " ")
}

// runes are what TitleOfLen draws from: 1- to 4-byte UTF-8 characters.
var runes = []rune("aZé東🚀ßЖ한ع€x7")

// TitleOfLen returns a random string of exactly n Unicode code points, most
// of them several bytes long in UTF-8 (so len(s) > n).
func TitleOfLen(r *rand.Rand, n int) string {
	out := make([]rune, n)
	for i := range out {
		out[i] = runes[r.IntN(len(runes))]
	}
	return string(out)
}
