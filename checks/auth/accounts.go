package auth

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"github.com/backend-grader/grader/checks/internal/dbfind"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"github.com/backend-grader/grader/checks/internal/expect"
	"github.com/backend-grader/grader/internal/grader"
	"github.com/backend-grader/grader/internal/harness"
)

// registerLogin: POST /register answers 201 {token}, POST /login with the
// same credentials 200 {token}, and that token lets the user list todos.
func registerLogin(ctx context.Context, h *harness.H) error {
	c := newCredentials(h)
	resp, err := register(ctx, h, c.body())
	if err != nil {
		return err
	}
	if _, err := tokenFrom(resp, http.StatusCreated); err != nil {
		return expect.Hint(err, `POST /register {"name", "email", "password"} creates the user and answers 201 Created with {"token": "<jwt>"}`)
	}
	resp, err = login(ctx, h, c.Email, c.Password)
	if err != nil {
		return err
	}
	tok, err := tokenFrom(resp, http.StatusOK)
	if err != nil {
		return expect.Hint(err, `POST /login {"email", "password"} answers 200 OK with {"token": "<jwt>"} for the right password`)
	}
	resp, err = h.Do(ctx, harness.Request{Path: "/todos", Token: tok})
	if err != nil {
		return err
	}
	return expect.Hint(expect.Status(resp, http.StatusOK), "the token from /login must let its user call the /todos routes (Authorization: Bearer <token>)")
}

// Password hash formats accepted (STAGES.md fine print): salted slow hashes
// in their usual encodings.
var hashFormats = []struct {
	name string
	re   *regexp.Regexp
}{
	{"bcrypt", regexp.MustCompile(`^\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}$`)},
	{"argon2", regexp.MustCompile(`^\$argon2(id|i)\$`)},
	{"scrypt", regexp.MustCompile(`^(\$scrypt\$|\$7\$|scrypt:\d+:\d+:\d+\$)`)},
	{"pbkdf2", regexp.MustCompile(`^(\$pbkdf2(-sha\d+)?\$|pbkdf2:sha\d+:\d+\$|pbkdf2_sha\d+\$\d+\$)`)},
}

// hashLike finds what looks like a password hash in a response.
var hashLike = regexp.MustCompile(`\$2[abxy]\$\d{2}\$|\$argon2i|\$scrypt\$|\$pbkdf2`)

// passwordHashed: the user's row in table users holds no plaintext password
// and no bare digest; one column holds a recognisable salted hash that
// verifies the password with its own algorithm (bcrypt, argon2, and the
// common Werkzeug and Django encodings of scrypt and pbkdf2; rarer
// encodings are judged by their format alone); and a second user with the
// same password gets a different hash (a salt).
func passwordHashed(ctx context.Context, h *harness.H) error {
	u, err := h.NewUser(ctx)
	if err != nil {
		return err
	}
	tab, err := usersTable(ctx, h, u, true)
	if err != nil {
		return err
	}
	row, cols, err := userRow(ctx, h, tab, u.Email)
	if err != nil {
		return err
	}
	digests := map[string]string{}
	for name, sum := range map[string][]byte{
		"MD5": md5sum(u.Password), "SHA-1": sha1sum(u.Password), "SHA-256": sha256sum(u.Password), "SHA-512": sha512sum(u.Password),
	} {
		digests[hex.EncodeToString(sum)] = name
	}
	found, foundCol, foundVal := "", "", ""
	for _, col := range cols {
		v, ok := columnText(row[col])
		if !ok {
			continue
		}
		if strings.Contains(v, u.Password) {
			return grader.Failf("column %s.%s holds the password in plain text", tab.Shown, col).
				WithHint("store only a salted slow hash of the password (bcrypt, argon2id, scrypt): whoever reads the table must not learn the passwords")
		}
		name, ok := digests[strings.ToLower(v)]
		if !ok {
			name, ok = digests[hex.EncodeToString([]byte(v))] // raw digest bytes
		}
		if ok {
			return grader.Failf("column %s.%s holds an unsalted %s digest of the password", tab.Shown, col, name).
				WithHint("a bare %s digest is cracked in seconds with precomputed tables: use a salted slow hash such as bcrypt or argon2id", name)
		}
		for _, f := range hashFormats {
			if f.re.MatchString(v) {
				found, foundCol, foundVal = f.name, col, v
			}
		}
	}
	if found == "" {
		return grader.Failf("no column of the user's row in table %s holds a recognisable password hash (columns: %s)", tab.Shown, strings.Join(cols, ", ")).
			WithHint("hash passwords with bcrypt ($2b$...), argon2id ($argon2id$...), scrypt or pbkdf2 in their standard encoded form, which carries the salt and the cost")
	}
	ok, checked := verifyHash(found, foundVal, u.Password)
	h.Record("note", "verifying column "+tab.Shown+"."+foundCol+" against the password with "+found, fmt.Sprintf("checked: %v, matches: %v", checked, ok))
	if checked && !ok {
		return grader.Failf("column %s.%s looks like a %s hash, but %s does not verify the user's password against it", tab.Shown, foundCol, found, found).
			WithHint("store what the %s library returns for the password (it carries the salt and the cost), and compare with the library's own verify function at login", found)
	}
	// Equal passwords, different hashes: the salt is real.
	c := newCredentials(h)
	c.Password = u.Password
	resp, err := register(ctx, h, c.body())
	if err != nil {
		return err
	}
	if _, err := anyToken(resp); err != nil {
		return err
	}
	row2, _, err := userRow(ctx, h, tab, c.Email)
	if err != nil {
		return err
	}
	if v, _ := columnText(row2[foundCol]); v == foundVal {
		return grader.Failf("two users registered with the same password have the same hash in column %s.%s: the hash is not salted", tab.Shown, foundCol).
			WithHint("use a random salt per password (bcrypt, argon2id and scrypt libraries make one for you): equal passwords must not give equal hashes")
	}
	return nil
}

// userRow reads the row of the user with email from tab, as JSON values.
func userRow(ctx context.Context, h *harness.H, tab *dbfind.Table, email string) (map[string]any, []string, error) {
	rows, err := h.Query(ctx, "SELECT to_jsonb(u) AS row FROM "+tab.Ident()+" u WHERE lower("+tab.Col("email")+"::text) = lower($1)", email)
	if err != nil {
		return nil, nil, grader.Failf("reading the user from table %s: %v", tab.Shown, err).
			WithHint("keep users in a table of their own, with the e-mail in one column and the password hash in another")
	}
	if len(rows) != 1 {
		return nil, nil, grader.Failf("table %s has %d rows with e-mail %s, expected 1", tab.Shown, len(rows), email).
			WithHint("POST /register stores each user once")
	}
	row, _ := rows[0]["row"].(map[string]any)
	cols := make([]string, 0, len(row))
	for k := range row {
		cols = append(cols, k)
	}
	sort.Strings(cols)
	return row, cols, nil
}

// columnText is a text column's value; a bytea column (Go's bcrypt
// returns []byte) shows as \x<hex> and is decoded.
func columnText(v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		return "", false
	}
	if b, err := hex.DecodeString(strings.TrimPrefix(s, `\x`)); err == nil && strings.HasPrefix(s, `\x`) {
		s = string(b)
	}
	return s, true
}

func md5sum(s string) []byte    { b := md5.Sum([]byte(s)); return b[:] }
func sha1sum(s string) []byte   { b := sha1.Sum([]byte(s)); return b[:] }
func sha256sum(s string) []byte { b := sha256.Sum256([]byte(s)); return b[:] }
func sha512sum(s string) []byte { b := sha512.Sum512([]byte(s)); return b[:] }

// duplicateEmail: registering an e-mail that exists answers 409, in any case.
func duplicateEmail(ctx context.Context, h *harness.H) error {
	u, err := h.NewUser(ctx)
	if err != nil {
		return err
	}
	for _, email := range []string{u.Email, mixedCase(h, u.Email)} {
		resp, err := register(ctx, h, map[string]string{"name": "Second " + expect.Word(h.Rand, 5), "email": email, "password": "Another-" + expect.Word(h.Rand, 8)})
		if err != nil {
			return err
		}
		if resp.Status != http.StatusConflict {
			hint := "check whether the e-mail is taken (a UNIQUE constraint, answered as 409) before creating the user"
			if email != u.Email {
				hint = "e-mail addresses are compared without case: store them lower-cased, or put the unique index on lower(email)"
			}
			return grader.Failf("POST /register with %s, already registered as %s: expected 409 Conflict, got %s", email, u.Email, expect.StatusText(resp.Status)).
				WithHint("%s", hint)
		}
	}
	return nil
}

// registerValidation: a bad e-mail or a password under 8 characters
// answers 400 (the shape of the error body is rest.validation-title's
// subject, not this check's).
func registerValidation(ctx context.Context, h *harness.H) error {
	c := newCredentials(h)
	seven := expect.Word(h.Rand, 4) + fmt.Sprintf("%03d", h.Rand.IntN(1000))
	cases := []struct {
		what  string
		body  map[string]any
		field string
	}{
		{"an e-mail without @", map[string]any{"name": c.Name, "email": strings.Replace(c.Email, "@", ".at.", 1), "password": c.Password}, "email"},
		{"an empty e-mail", map[string]any{"name": c.Name, "email": "", "password": c.Password}, "email"},
		{"a 7-character password", map[string]any{"name": c.Name, "email": c.Email, "password": seven}, "password"},
		{"no password", map[string]any{"name": c.Name, "email": c.Email}, "password"},
	}
	for _, i := range h.Rand.Perm(len(cases)) {
		x := cases[i]
		resp, err := register(ctx, h, x.body)
		if err != nil {
			return err
		}
		if resp.Status != http.StatusBadRequest {
			return grader.Failf("POST /register with %s: expected 400 Bad Request, got %s", x.what, expect.StatusText(resp.Status)).
				WithHint("validate the body before creating the user: a valid e-mail address, a password of at least 8 characters; answer 400 with errors.<field>")
		}
	}
	return nil
}

// loginFailures: an unknown e-mail and a wrong password both answer 401
// with the same body.
func loginFailures(ctx context.Context, h *harness.H) error {
	u, err := h.NewUser(ctx)
	if err != nil {
		return err
	}
	unknown, err := login(ctx, h, "nobody."+expect.Word(h.Rand, 10)+"@example.com", u.Password)
	if err != nil {
		return err
	}
	wrong, err := login(ctx, h, u.Email, u.Password+expect.Word(h.Rand, 2))
	if err != nil {
		return err
	}
	for _, x := range []struct {
		what string
		resp *harness.Response
	}{{"an unknown e-mail", unknown}, {"a wrong password", wrong}} {
		if x.resp.Status != http.StatusUnauthorized {
			return grader.Failf("POST /login with %s: expected 401 Unauthorized, got %s", x.what, expect.StatusText(x.resp.Status)).
				WithHint("wrong credentials answer 401, whichever of the two is wrong")
		}
	}
	if !bytes.Equal(bytes.TrimSpace(unknown.Body), bytes.TrimSpace(wrong.Body)) {
		a, aerr := unknown.JSON()
		b, berr := wrong.JSON()
		d := expect.DiffAs(a, b, "unknown e-mail", "wrong password")
		if aerr != nil || berr != nil {
			d = fmt.Sprintf("\n  unknown e-mail: %s\n  wrong password: %s", harness.Excerpt(unknown.Body, 120), harness.Excerpt(wrong.Body, 120))
		}
		if d == "" {
			return nil // the same JSON, written differently
		}
		return grader.Failf("POST /login answers an unknown e-mail and a wrong password with different bodies:%s", d).
			WithHint(`answer both with the same body (e.g. {"message": "invalid email or password"}), so that nobody can find out which e-mails are registered`)
	}
	return nil
}

// noPasswordInResponse: neither the password nor its hash appears in any
// answer: register, login, and the todo routes.
func noPasswordInResponse(ctx context.Context, h *harness.H) error {
	c := newCredentials(h)
	var seen []*harness.Response
	resp, err := register(ctx, h, c.body())
	if err != nil {
		return err
	}
	seen = append(seen, resp)
	tok, err := anyToken(resp)
	if err != nil {
		return err
	}
	if resp, err = login(ctx, h, c.Email, c.Password); err != nil {
		return err
	}
	seen = append(seen, resp)
	if tok == "" {
		if tok, err = anyToken(resp); err != nil {
			return err
		}
	}
	if tok == "" {
		return noToken()
	}
	t, err := createAs(ctx, h, tok, map[string]any{"title": expect.Title(h.Rand)})
	if err != nil {
		return err
	}
	for _, p := range []string{"/todos", "/todos/" + t.ID} {
		if resp, err = h.Do(ctx, harness.Request{Path: p, Token: tok}); err != nil {
			return err
		}
		seen = append(seen, resp)
	}
	for _, r := range seen {
		if err := leaks(r, c.Password); err != nil {
			return err
		}
	}
	return nil
}

// leaks fails when resp shows the password, a password hash or a field
// named like one.
func leaks(resp *harness.Response, password string) error {
	hint := "never send the password or its hash back: answer register and login with the token only, and leave password fields out of every user or todo object"
	var head strings.Builder
	resp.Header.Write(&head)
	for _, x := range []struct{ where, text string }{{"body", string(resp.Body)}, {"headers", head.String()}} {
		where, text := x.where, x.text
		if strings.Contains(text, password) {
			return grader.Failf("%s: the password appears in the %s of the answer", expect.Request(resp), where).WithHint("%s", hint)
		}
		if m := hashLike.FindString(text); m != "" {
			return grader.Failf("%s: what looks like a password hash (%q...) appears in the %s of the answer", expect.Request(resp), m, where).WithHint("%s", hint)
		}
	}
	var v any
	if resp.DecodeJSON(&v) == nil {
		if key := passwordKey(v); key != "" {
			return grader.Failf("%s: the answer has a field %q", expect.Request(resp), key).WithHint("%s", hint)
		}
	}
	return nil
}

// passwordKey finds an object key naming a password, at any depth.
func passwordKey(v any) string {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if strings.Contains(strings.ToLower(k), "password") {
				return k
			}
			if found := passwordKey(v[k]); found != "" {
				return found
			}
		}
	case []any:
		for _, x := range v {
			if found := passwordKey(x); found != "" {
				return found
			}
		}
	}
	return ""
}

// passwordHashedID grades users being stored (with their password hash):
// a check that cannot find the users table is blocked by it.
const passwordHashedID = "auth.password-hashed"

// usersTable finds the run's users table from u, a user just registered
// (once per run). grades says the calling check's subject is the stored
// user: it then fails when the table cannot be found; any other check is
// blocked by auth.password-hashed.
func usersTable(ctx context.Context, h *harness.H, u *harness.User, grades bool) (*dbfind.Table, error) {
	t, err := dbfind.Users(ctx, h, func(context.Context) (dbfind.User, error) {
		return dbfind.User{Email: u.Email, ID: u.ID}, nil
	})
	if err != nil {
		return nil, dbfind.As(err, passwordHashedID, grades)
	}
	return t, nil
}
