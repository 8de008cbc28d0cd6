package submission

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"sync"
)

const (
	// logLines is how many lines of the service's output are kept.
	logLines = 200
	// maxLineBytes splits longer lines (a flood without newlines).
	maxLineBytes = 8 << 10
	// echoCap is how much output is echoed before the echo stops; the
	// output is still read (the service never blocks on a full pipe) and its
	// last lines are still kept.
	echoCap = 1 << 20
	// servicePrefix starts every echoed line of the service's output.
	servicePrefix = "[your_service] "
)

// lineRing keeps the last lines of some output.
type lineRing struct {
	mu    sync.Mutex
	lines []string
	next  int
	full  bool
	total uint64 // lines added since the start
}

func newLineRing(n int) *lineRing { return &lineRing{lines: make([]string, n)} }

func (r *lineRing) add(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines[r.next] = line
	r.total++
	r.next++
	if r.next == len(r.lines) {
		r.next, r.full = 0, true
	}
}

// last returns up to n of the most recent lines, oldest first (all when n <= 0).
func (r *lineRing) last(n int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var all []string
	if r.full {
		all = append(all, r.lines[r.next:]...)
	}
	all = append(all, r.lines[:r.next]...)
	if n > 0 && len(all) > n {
		all = all[len(all)-n:]
	}
	return all
}

// mark returns how many lines were added so far.
func (r *lineRing) mark() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// since returns the lines added after mark (a value of mark), oldest
// first, as far as they are still kept, and how many of them are not.
func (r *lineRing) since(mark uint64) (lines []string, lost uint64) {
	r.mu.Lock()
	total := r.total
	r.mu.Unlock()
	if mark >= total {
		return nil, 0
	}
	n := total - mark
	kept := r.last(0)
	if n > uint64(len(kept)) {
		return kept, n - uint64(len(kept))
	}
	return kept[uint64(len(kept))-n:], 0
}

// echoer copies output lines to the user's terminal, each with a prefix,
// up to echoCap bytes, then says once that the rest is not shown.
type echoer struct {
	mu        sync.Mutex
	w         io.Writer
	written   int
	limit     int
	truncated bool
}

func newEchoer(w io.Writer) *echoer { return &echoer{w: w, limit: echoCap} }

func (e *echoer) line(prefix, line string) {
	if e == nil || e.w == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.truncated {
		return
	}
	if e.written+len(prefix)+len(line)+1 > e.limit {
		e.truncated = true
		io.WriteString(e.w, "[grader] output truncated: the service printed more than 1 MiB; the rest is not shown (its last lines are kept for the report)\n")
		return
	}
	n, _ := io.WriteString(e.w, prefix+line+"\n")
	e.written += n
}

// pump reads r line by line into ring and echo until EOF or an error, and
// closes done when it returns. It never stops reading early, so the writer
// never blocks on a full pipe.
func pump(r io.Reader, ring *lineRing, echo *echoer, prefix string, done chan<- struct{}) {
	defer close(done)
	br := bufio.NewReaderSize(r, maxLineBytes)
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			line := strings.TrimRight(string(chunk), "\r\n")
			ring.add(line)
			echo.line(prefix, line)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}
