package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/backend-grader/grader/internal/verdict"
)

// What a Redis step may show, and what the grader reads at most. Everything
// in the learner's Redis is the learner's data: a key name of 64 MiB or a
// million keys must neither flood a transcript nor the grader's memory.
const (
	// MaxRedisKeys is how many key names RedisKeys collects at most.
	MaxRedisKeys = 10000
	// maxRedisKeyBytes bounds the bytes of key names RedisKeys keeps.
	maxRedisKeyBytes = 8 << 20
	// redisScanCount is the COUNT hint of each SCAN: it bounds one reply.
	redisScanCount = 100
	// MaxRedisValue is how much of a string value RedisValue reads.
	MaxRedisValue = 64 << 10
	// shownRedisValue is how much of a value or key a transcript shows.
	shownRedisValue = 300
	// shownRedisArg is how much of a command argument a transcript shows.
	shownRedisArg = 200
	// shownRedisItems is how many elements of a reply, keys of a listing or
	// commands of a pipeline a transcript shows.
	shownRedisItems = 20
	// shownRedisOutput bounds one step's reply as a whole.
	shownRedisOutput = 4000
	// redisTTLBatch is how many TTL commands go in one pipeline.
	redisTTLBatch = 500
)

// The redis handle a check sees (H.Redis) is a clone of the run's client: it
// shares the connection pool, and carries a hook that records every command
// in that check's transcript. A check that overruns its time therefore keeps
// writing to its own transcript, never to the next check's. A clone must
// not be closed: closing it closes the pool the run shares.
func recordedRedis(base *redis.Client, h *H) *redis.Client {
	if base == nil {
		return nil
	}
	c := base.WithTimeout(base.Options().ReadTimeout)
	c.AddHook(redisRecorder{h: h, cli: RedisCLI(base.Options())})
	return c
}

// redisRecorder is the go-redis hook that writes each command as the
// redis-cli line a learner can paste, and the reply as redis-cli prints it.
type redisRecorder struct {
	h   *H
	cli string
}

func (r redisRecorder) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r redisRecorder) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		// go-redis sets the command's error after the hooks return.
		r.h.Record("redis", r.cli+" "+redisArgs(cmd.Args()), redisReply(cmd, err))
		return err
	}
}

func (r redisRecorder) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		var c, o strings.Builder
		for i, cmd := range cmds {
			if i == shownRedisItems {
				fmt.Fprintf(&c, "\n# ... and %d more commands in the same pipeline", len(cmds)-i)
				fmt.Fprintf(&o, "\n... and %d more replies", len(cmds)-i)
				break
			}
			if i > 0 {
				c.WriteString("\n")
				o.WriteString("\n")
			}
			c.WriteString(r.cli + " " + redisArgs(cmd.Args()))
			fmt.Fprintf(&o, "%d) %s", i+1, indentAfterFirst(redisReply(cmd, cmd.Err()), len(strconv.Itoa(i+1))+2))
		}
		r.h.Record("redis", c.String(), Shorten(o.String(), shownRedisOutput))
		return err
	}
}

// RedisCLI is the redis-cli invocation that reaches the database o points
// at: the host, port and database number when they are not redis-cli's
// defaults, --tls when the connection uses it, and --askpass (never the
// password itself) when there is one.
func RedisCLI(o *redis.Options) string {
	parts := []string{"redis-cli"}
	if o.Network == "unix" {
		parts = append(parts, "-s", shellArg(o.Addr))
	} else if host, port, err := net.SplitHostPort(o.Addr); err == nil {
		if host != "" && host != "127.0.0.1" && host != "localhost" {
			parts = append(parts, "-h", shellArg(host))
		}
		if port != "6379" {
			parts = append(parts, "-p", shellArg(port))
		}
	}
	if o.TLSConfig != nil {
		parts = append(parts, "--tls")
	}
	if o.Username != "" {
		parts = append(parts, "--user", shellArg(o.Username))
	}
	if o.Password != "" {
		parts = append(parts, "--askpass")
	}
	if o.DB != 0 {
		parts = append(parts, "-n", strconv.Itoa(o.DB))
	}
	return strings.Join(parts, " ")
}

// redisCLI is the run's redis-cli invocation ("redis-cli" without Redis).
func (h *H) redisCLI() string {
	if h.redisBase == nil {
		return "redis-cli"
	}
	return RedisCLI(h.redisBase.Options())
}

// redisArgs renders a command's arguments as redis-cli takes them on its
// command line: the name upper-case, each argument quoted for the shell.
func redisArgs(args []any) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if i == shownRedisItems+1 {
			fmt.Fprintf(&b, "... (%d more arguments)", len(args)-i)
			break
		}
		s := argString(a)
		if i == 0 {
			s = strings.ToUpper(s)
		}
		b.WriteString(shellArg(s))
	}
	return b.String()
}

func argString(a any) string {
	switch v := a.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case nil:
		return ""
	}
	return fmt.Sprint(a)
}

// shellArg quotes s for a POSIX shell so that the command pastes: bare when
// it is plain, in single quotes when printable, as $'...' with escapes when
// it holds control characters or bytes that are not UTF-8. An argument
// longer than shownRedisArg is cut (and then no longer pastes) and says so.
func shellArg(s string) string {
	n := len(s)
	more := ""
	if n > shownRedisArg {
		cut := shownRedisArg
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
		more = fmt.Sprintf("...(%d bytes in all)", n)
	}
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-.:/@%+=,", r)))
	}) < 0 {
		return s + more
	}
	if printable(s) {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" + more
	}
	var b strings.Builder
	b.WriteString("$'")
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\'' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case !unicode.IsPrint(r) && r != ' ':
			if r < 0x80 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
		i += size
	}
	b.WriteString("'")
	return b.String() + more
}

// printable: valid UTF-8 without control, format or bidi characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r != ' ' && !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// RedisQuote renders a value the way redis-cli prints a string reply: in
// double quotes, control characters and bytes that are not UTF-8 escaped,
// cut to a few hundred bytes.
func RedisQuote(s string) string {
	n := len(s)
	more := ""
	if n > shownRedisValue {
		cut := shownRedisValue
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
		more = fmt.Sprintf("... (%d bytes in all)", n)
	}
	return `"` + escapeText(s, `"`) + `"` + more
}

// escapeText escapes, as \n, \xHH or \uHHHH, what a terminal would
// interpret or a reader could not see: control, format and bidi
// characters, bytes that are not UTF-8, the backslash and the characters
// in quotes. Nothing is cut.
func escapeText(s, quotes string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\' || strings.ContainsRune(quotes, r):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r != ' ' && !unicode.IsPrint(r):
			if r < 0x80 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// redisReply renders a command's reply, or err, as redis-cli prints it.
func redisReply(cmd redis.Cmder, err error) string {
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return "(nil)"
		}
		var re redis.Error
		if errors.As(err, &re) {
			return "(error) " + Shorten(printableText(re.Error()), shownRedisValue)
		}
		return "(no reply: " + Shorten(printableText(err.Error()), shownRedisValue) + ")"
	}
	var out string
	switch c := cmd.(type) {
	case *redis.StatusCmd:
		out = printableText(c.Val())
	case *redis.DurationCmd:
		// TTL and PTTL answer an integer; go-redis turns it into a duration
		// and keeps -1 (no expiry) and -2 (no such key) as they are.
		d := c.Val()
		n := int64(d)
		if d > 0 {
			if strings.EqualFold(c.Name(), "pttl") {
				n = d.Milliseconds()
			} else {
				n = int64(d / time.Second)
			}
		}
		out = "(integer) " + strconv.FormatInt(n, 10)
	case *redis.ScanCmd:
		keys, cursor := c.Val()
		out = "1) " + RedisQuote(strconv.FormatUint(cursor, 10)) + "\n2) " + indentAfterFirst(formatRedisValue(keys), 3)
	default:
		m := reflect.ValueOf(cmd).MethodByName("Val")
		if !m.IsValid() || m.Type().NumIn() != 0 || m.Type().NumOut() != 1 {
			out = Shorten(printableText(cmd.String()), shownRedisValue)
			break
		}
		out = formatRedisValue(m.Call(nil)[0].Interface())
	}
	return Shorten(out, shownRedisOutput)
}

// formatRedisValue renders a decoded reply: strings quoted, integers as
// (integer), lists numbered and cut to shownRedisItems elements.
func formatRedisValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "(nil)"
	case string:
		return RedisQuote(x)
	case []byte:
		return RedisQuote(string(x))
	case int64:
		return "(integer) " + strconv.FormatInt(x, 10)
	case int:
		return "(integer) " + strconv.Itoa(x)
	case uint64:
		return "(integer) " + strconv.FormatUint(x, 10)
	case bool:
		if x {
			return "(integer) 1"
		}
		return "(integer) 0"
	case float64:
		return RedisQuote(strconv.FormatFloat(x, 'f', -1, 64))
	case time.Duration:
		return "(integer) " + strconv.FormatInt(int64(x/time.Second), 10)
	case time.Time:
		return RedisQuote(x.UTC().Format(time.RFC3339Nano))
	case redis.Error:
		return "(error) " + Shorten(printableText(x.Error()), shownRedisValue)
	case map[string]string:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		flat := make([]any, 0, 2*min(len(keys), shownRedisItems))
		for _, k := range keys[:min(len(keys), shownRedisItems/2)] {
			flat = append(flat, k, x[k])
		}
		return formatRedisList(flat, 2*len(keys))
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice {
		n := rv.Len()
		items := make([]any, 0, min(n, shownRedisItems))
		for i := 0; i < n && i < shownRedisItems; i++ {
			items = append(items, rv.Index(i).Interface())
		}
		return formatRedisList(items, n)
	}
	return Shorten(printableText(fmt.Sprint(v)), shownRedisValue)
}

// formatRedisList numbers items as redis-cli does; total is the length of
// the whole reply, of which items are the first.
func formatRedisList(items []any, total int) string {
	if total == 0 {
		return "(empty array)"
	}
	var b strings.Builder
	for i, it := range items {
		if i > 0 {
			b.WriteString("\n")
		}
		label := strconv.Itoa(i+1) + ") "
		b.WriteString(label + indentAfterFirst(formatRedisValue(it), len(label)))
	}
	if total > len(items) {
		fmt.Fprintf(&b, "\n... and %d more", total-len(items))
	}
	return b.String()
}

// indentAfterFirst indents every line of s but the first by n spaces.
func indentAfterFirst(s string, n int) string {
	return strings.ReplaceAll(s, "\n", "\n"+strings.Repeat(" ", n))
}

// printableText escapes what a terminal would interpret in a message that
// may carry the learner's data (an error that quotes a key).
func printableText(s string) string {
	if printable(s) {
		return s
	}
	return escapeText(s, "")
}

// ErrNoRedis is returned by the Redis helpers when the run has no Redis.
var ErrNoRedis error = &verdict.Environment{Reason: "this run has no Redis (grader bug: the stage should declare it)"}

// RedisKeys lists the keys of the run's Redis database that match pattern
// ("*" for all), sorted and without repeats, reading with SCAN so that the
// server is never blocked. It stops after MaxRedisKeys keys (or a few MiB of
// key names) and then says complete=false. It records one step: the
// redis-cli --scan line and the keys found, cut for the transcript.
func (h *H) RedisKeys(ctx context.Context, pattern string) (keys []string, complete bool, err error) {
	if h.redisBase == nil {
		return nil, false, ErrNoRedis
	}
	cmd := h.redisCLI() + " --scan"
	if pattern != "*" {
		cmd += " --pattern " + shellArg(pattern)
	}
	var cursor uint64
	size := 0
	complete = true
	for {
		page, next, err := h.redisBase.Scan(ctx, cursor, pattern, redisScanCount).Result()
		if err != nil {
			h.Record("redis", cmd, "(error) "+Shorten(printableText(err.Error()), shownRedisValue))
			return nil, false, err
		}
		for _, k := range page {
			keys = append(keys, k)
			size += len(k)
		}
		cursor = next
		if cursor == 0 {
			break
		}
		if len(keys) >= MaxRedisKeys || size >= maxRedisKeyBytes {
			complete = false
			break
		}
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	if len(keys) > MaxRedisKeys {
		keys = keys[:MaxRedisKeys]
		complete = false
	}
	out := RedisKeyList(keys)
	if !complete {
		out += fmt.Sprintf("\n(the grader stopped reading after %d keys: there are more)", len(keys))
	}
	h.Record("redis", cmd, out)
	return keys, complete, nil
}

// RedisKeyList renders keys for a transcript: the first few, one a line,
// each quoted as redis-cli prints it, and how many there are in all.
func RedisKeyList(keys []string) string {
	if len(keys) == 0 {
		return "(no keys)"
	}
	var b strings.Builder
	for i, k := range keys {
		if i == shownRedisItems {
			fmt.Fprintf(&b, "\n... and %d more (%d keys in all)", len(keys)-i, len(keys))
			break
		}
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(RedisQuote(k))
	}
	return b.String()
}

// RedisTTLs reads the TTL of each key, in seconds as redis-cli shows it (-1
// no expiry, -2 no such key), in pipelines, and records one step: a shell
// loop a learner can paste, and the keys without expiry first.
func (h *H) RedisTTLs(ctx context.Context, keys []string) ([]int64, error) {
	if h.redisBase == nil {
		return nil, ErrNoRedis
	}
	cli := h.redisCLI()
	var loop strings.Builder
	loop.WriteString("for k in")
	for i, k := range keys {
		if i == shownRedisItems {
			fmt.Fprintf(&loop, " ...(%d more keys)", len(keys)-i)
			break
		}
		loop.WriteString(" " + shellArg(k))
	}
	loop.WriteString(`; do echo "$k $(` + cli + ` TTL "$k")"; done`)
	cmd := loop.String()
	if len(keys) == 0 {
		h.Record("redis", cmd, "(no keys to check)")
		return nil, nil
	}
	ttls := make([]int64, 0, len(keys))
	for start := 0; start < len(keys); start += redisTTLBatch {
		batch := keys[start:min(start+redisTTLBatch, len(keys))]
		pipe := h.redisBase.Pipeline()
		cmds := make([]*redis.DurationCmd, len(batch))
		for i, k := range batch {
			cmds[i] = pipe.TTL(ctx, k)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			h.Record("redis", cmd, "(error) "+Shorten(printableText(err.Error()), shownRedisValue))
			return nil, err
		}
		for _, c := range cmds {
			d := c.Val()
			n := int64(d)
			if d > 0 {
				n = int64(d / time.Second)
			}
			ttls = append(ttls, n)
		}
	}
	// The keys that never expire first: they are what a check looks for.
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return ttls[order[a]] == -1 && ttls[order[b]] != -1 })
	var out strings.Builder
	forever := 0
	for _, t := range ttls {
		if t == -1 {
			forever++
		}
	}
	for i, j := range order {
		if i == shownRedisItems {
			fmt.Fprintf(&out, "... and %d more\n", len(order)-i)
			break
		}
		fmt.Fprintf(&out, "%s (integer) %d\n", shellArg(keys[j]), ttls[j])
	}
	fmt.Fprintf(&out, "%d keys, %d without expiry (TTL -1)", len(keys), forever)
	h.Record("redis", cmd, out.String())
	return ttls, nil
}

// RedisValue is what RedisReadValue found under a key.
type RedisValue struct {
	// Type is the key's type as TYPE answers it ("none" when there is no key).
	Type string
	// Len is the string's length in bytes, or the number of elements.
	Len int64
	// Value is the string value, at most MaxRedisValue bytes of it.
	Value string
	// Complete is false when Value is only the beginning of the string.
	Complete bool
}

// RedisReadValue reads what a key holds without trusting its size: its
// TYPE, then for a string its STRLEN and at most MaxRedisValue bytes of it
// (GETRANGE), for a hash, list, set or sorted set only the number of
// elements. Each command is recorded.
func (h *H) RedisReadValue(ctx context.Context, key string) (RedisValue, error) {
	if h.Redis == nil {
		return RedisValue{}, ErrNoRedis
	}
	t, err := h.Redis.Type(ctx, key).Result()
	if err != nil {
		return RedisValue{}, err
	}
	v := RedisValue{Type: t, Complete: true}
	var n *redis.IntCmd
	switch t {
	case "none":
		return v, nil
	case "string":
		n = h.Redis.StrLen(ctx, key)
	case "hash":
		n = h.Redis.HLen(ctx, key)
	case "list":
		n = h.Redis.LLen(ctx, key)
	case "set":
		n = h.Redis.SCard(ctx, key)
	case "zset":
		n = h.Redis.ZCard(ctx, key)
	default:
		return v, nil
	}
	if v.Len, err = n.Result(); err != nil {
		return RedisValue{}, err
	}
	if t != "string" || v.Len == 0 {
		return v, nil
	}
	end := min(v.Len, MaxRedisValue) - 1
	if v.Value, err = h.Redis.GetRange(ctx, key, 0, end).Result(); err != nil {
		return RedisValue{}, err
	}
	v.Complete = int64(len(v.Value)) == v.Len
	return v, nil
}
