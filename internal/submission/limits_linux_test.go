package submission

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestServiceAndInstanceGetLimits reads the limits of the running service
// and of an extra instance from /proc: a Go service runs under the data
// limit, and each limit is what was asked for, in bytes.
func TestServiceAndInstanceGetLimits(t *testing.T) {
	m := fixture(t, "testdata/good", true)
	lim := Limits{CPUSeconds: 600, FileBytes: 1 << 30, OpenFiles: 4096, DataBytes: 4 << 30}
	var logs syncBuffer
	p, err := Start(context.Background(), Config{Manifest: m, Limits: lim,
		Logf: func(f string, a ...any) { fmt.Fprintf(&logs, f+"\n", a...) }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(context.Background())
	inst, err := p.StartInstance(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"Max cpu time":   {"600", "601"},
		"Max file size":  {"1073741824", "1073741824"},
		"Max open files": {"4096", "4096"},
		"Max data size":  {"4294967296", "4294967296"},
	}
	row := regexp.MustCompile(`^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)`)
	for what, base := range map[string]string{"service": p.URL(), "instance": inst.URL()} {
		_, pid := get(t, base+"/pid")
		data, err := os.ReadFile("/proc/" + pid + "/limits")
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, line := range strings.Split(string(data), "\n") {
			mm := row.FindStringSubmatch(line)
			if mm == nil {
				continue
			}
			if w, ok := want[mm[1]]; ok {
				seen++
				if mm[2] != w[0] || mm[3] != w[1] {
					t.Errorf("%s: %s = %s/%s, want %s/%s", what, mm[1], mm[2], mm[3], w[0], w[1])
				}
			}
		}
		if seen != len(want) {
			t.Errorf("%s: found %d of the %d limits in /proc/%s/limits:\n%s", what, seen, len(want), pid, data)
		}
	}
	if !strings.Contains(logs.String(), "limits for each of its processes: CPU time 600s, file size 1 GiB, open files 4096, data 4 GiB") {
		t.Errorf("the progress lines do not name the limits:\n%s", logs.String())
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Error(err)
	}
	assertNothingLeft(t, m.Dir)
}
