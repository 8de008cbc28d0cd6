package services

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/backend-grader/grader/internal/services/runlock"
	"github.com/backend-grader/grader/internal/services/service"
)

// CleanOptions say what Clean removes.
type CleanOptions struct {
	// All removes live runs' leftovers too; by default only what no running
	// grader owns (runlock) goes.
	All bool
	// Runs limits Clean to these run ids (empty: every run).
	Runs []string
	// Services say which servers to look at: Mode docker cleans only
	// Docker, external only the external servers, auto (the default) both
	// where they answer. URLs and settings as for Start.
	Services Options
}

// Clean removes what grader runs left behind: the containers, networks
// and volumes labelled io.grader.run, and on external servers the grader_*
// databases and roles, Redis claims (emptying their databases) and users,
// and RabbitMQ vhosts and users. Only what belongs to a run that no
// process holds (runlock) goes, unless o.All. It prints what it removed and
// what it kept. An unreachable Docker or server that was asked for is an
// *EnvError; one that was not is said and skipped.
func Clean(ctx context.Context, o CleanOptions, w io.Writer) error {
	so := o.Services.withDefaults()
	var errs []string
	cleaned := false
	if so.Mode == ModeDocker || so.Mode == ModeAuto {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cli, err := dockerClient(pctx)
		cancel()
		switch {
		case err == nil:
			cleaned = true
			if err := cleanDocker(ctx, cli, o, w); err != nil {
				errs = append(errs, err.Error())
			}
		case so.Mode == ModeDocker:
			return &EnvError{
				Message: fmt.Sprintf("docker is not reachable (%s): nothing was cleaned", oneLine(err)),
				Fix:     "start Docker and run 'grader clean' again (without Docker the grader starts no containers)",
			}
		default:
			fmt.Fprintf(w, "docker: not reachable (%s), skipped\n", oneLine(err))
		}
	}
	if so.Mode == ModeExternal || so.Mode == ModeAuto {
		ok, err := cleanExternal(ctx, so, o, w)
		cleaned = cleaned || ok
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return &EnvError{Message: "could not clean everything: " + strings.Join(errs, "; "),
			Fix: "fix what is named and run 'grader clean' again"}
	}
	if !cleaned {
		return &EnvError{Message: "nothing was cleaned: neither Docker nor any external server answers",
			Fix: "start Docker, or point the grader at the servers (--postgres-url, --redis-url, --amqp-url, --amqp-management-url)"}
	}
	return nil
}

// judge decides about something of run value (a label value, or a scope
// name without its prefix, compared by key): "" to drop it, else why it
// stays. live is read after the things were listed: a run takes its lock
// before it creates anything, so a live run's things are never judged
// dead.
type judge struct {
	all  bool
	runs []string
	live map[string]bool
	ids  map[string]string   // live key -> run id, for messages
	key  func(string) string // how a run id appears in what is judged
}

func newJudge(o CleanOptions, key func(string) string) (*judge, error) {
	live, err := runlock.Live()
	if err != nil {
		return nil, err
	}
	j := &judge{all: o.All, live: map[string]bool{}, ids: map[string]string{}, key: key}
	for id := range live {
		j.live[key(id)] = true
		j.ids[key(id)] = id
	}
	for _, r := range o.Runs {
		j.runs = append(j.runs, key(r))
	}
	return j, nil
}

// skip returns why v stays ("" when it goes), and whether it is outside
// the runs asked for (then nothing is said about it).
func (j *judge) skip(v string) (why string, outside bool) {
	if len(j.runs) > 0 {
		in := false
		for _, r := range j.runs {
			in = in || belongs(v, r)
		}
		if !in {
			return "not asked for", true
		}
	}
	if j.all {
		return "", false
	}
	if k := runlock.Owner(j.live, v); k != "" {
		return "run " + j.ids[k] + " is live", false
	}
	return "", false
}

// belongs reports whether v (a label value, or a scope name without its
// prefix) is of run key r: r itself, r followed by a batch submission's
// s<n>, or (a scope name's key ends with "_") anything after r.
func belongs(v, r string) bool {
	rest, ok := strings.CutPrefix(v, r)
	if !ok {
		return false
	}
	if rest == "" || strings.HasSuffix(r, "_") {
		return true
	}
	digits, ok := strings.CutPrefix(rest, "s")
	return ok && digits != "" && strings.Trim(digits, "0123456789") == ""
}

// cleanDocker removes the containers, then networks, then volumes labelled
// io.grader.run whose run is dead (or every one with o.All).
func cleanDocker(ctx context.Context, cli client.APIClient, o CleanOptions, w io.Writer) error {
	f := client.Filters{}.Add("label", LabelRun)
	var errs []string
	removed := 0
	kept := map[string]int{}
	ctrs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("list containers: %s", oneLine(err))
	}
	j, err := newJudge(o, func(s string) string { return s })
	if err != nil {
		return err
	}
	for _, c := range ctrs.Items {
		name := strings.TrimPrefix(firstOr(c.Names, c.ID[:12]), "/")
		if why, outside := j.skip(c.Labels[LabelRun]); why != "" {
			if !outside {
				kept[why]++
			}
			continue
		}
		_, _ = cli.ContainerUnpause(ctx, c.ID, client.ContainerUnpauseOptions{})
		if _, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !gone(err) {
			errs = append(errs, fmt.Sprintf("container %s: %s", name, oneLine(err)))
			continue
		}
		removed++
		fmt.Fprintf(w, "removed container %s (%s, %s=%s)\n", name, c.Image, LabelRun, c.Labels[LabelRun])
	}

	nets, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return fmt.Errorf("list networks: %s", oneLine(err))
	}
	if j, err = newJudge(o, func(s string) string { return s }); err != nil {
		return err
	}
	for _, n := range nets.Items {
		if why, outside := j.skip(n.Labels[LabelRun]); why != "" {
			if !outside {
				kept[why]++
			}
			continue
		}
		if err := removeNetwork(ctx, cli, n.ID); err != nil {
			errs = append(errs, fmt.Sprintf("network %s: %s", n.Name, oneLine(err)))
			continue
		}
		removed++
		fmt.Fprintf(w, "removed network %s (%s=%s)\n", n.Name, LabelRun, n.Labels[LabelRun])
	}

	vols, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		return fmt.Errorf("list volumes: %s", oneLine(err))
	}
	if j, err = newJudge(o, func(s string) string { return s }); err != nil {
		return err
	}
	for _, v := range vols.Items {
		if why, outside := j.skip(v.Labels[LabelRun]); why != "" {
			if !outside {
				kept[why]++
			}
			continue
		}
		if _, err := cli.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true}); err != nil && !gone(err) {
			errs = append(errs, fmt.Sprintf("volume %s: %s", v.Name, oneLine(err)))
			continue
		}
		removed++
		fmt.Fprintf(w, "removed volume %s (%s=%s)\n", v.Name, LabelRun, v.Labels[LabelRun])
	}
	sayKept(w, "docker", kept)
	if len(errs) > 0 {
		return errors.New("docker: could not remove: " + strings.Join(errs, "; "))
	}
	if removed == 0 {
		fmt.Fprintf(w, "docker: nothing to clean (no container, network or volume of a dead run carries the label %s)\n", LabelRun)
	}
	return nil
}

// sayKept prints what stayed, by reason ("kept 3 (run 0a1b... is live)").
func sayKept(w io.Writer, where string, kept map[string]int) {
	var whys []string
	for why := range kept {
		whys = append(whys, why)
	}
	sort.Strings(whys)
	for _, why := range whys {
		fmt.Fprintf(w, "%s: kept %d: %s ('grader clean --all' removes it too)\n", where, kept[why], why)
	}
}

// cleanExternal drops the leftovers of dead runs on the external servers:
// those given (flags, GRADER_*_URL), and the standard local ones when they
// answer. It reports whether it reached any server.
func cleanExternal(ctx context.Context, so Options, o CleanOptions, w io.Writer) (bool, error) {
	var errs []string
	reached := false
	for _, svc := range registry {
		srv := so.server(svc)
		srv.Logf = nil
		name := svc.Name()
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := svc.Probe(pctx, srv.URL)
		cancel()
		if err != nil {
			if srv.Given || so.Mode == ModeExternal {
				errs = append(errs, fmt.Sprintf("%s at %s: %s", name, hostPort(srv.URL), friendly(err)))
			} else {
				fmt.Fprintf(w, "%s: nothing answers at %s, skipped\n", name, hostPort(srv.URL))
			}
			continue
		}
		octx, cancel := context.WithTimeout(ctx, 15*time.Second)
		inst, err := svc.Open(octx, srv)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s at %s: %s", name, hostPort(srv.URL), oneLine(err)))
			continue
		}
		reached = true
		if err := cleanLeftovers(ctx, string(name), inst, o, w); err != nil {
			errs = append(errs, err.Error())
		}
		_ = inst.Close()
	}
	if len(errs) > 0 {
		return reached, errors.New(strings.Join(errs, "; "))
	}
	return reached, nil
}

// cleanLeftovers drops one server's leftovers of dead runs.
func cleanLeftovers(ctx context.Context, name string, inst service.Instance, o CleanOptions, w io.Writer) error {
	left, err := inst.Leftovers(ctx)
	if err != nil {
		return fmt.Errorf("%s: %s", name, oneLine(err))
	}
	// Scope names are grader_<the run id as nameKey keeps it>_...
	j, err := newJudge(o, func(id string) string { return nameKey(id, 24) + "_" })
	if err != nil {
		return err
	}
	var errs []string
	removed := 0
	kept := map[string]int{}
	for _, l := range left {
		rest := strings.TrimPrefix(l.Scope, service.ScopePrefix)
		if why, outside := j.skip(rest); why != "" {
			if !outside {
				kept[why]++
			}
			continue
		}
		if err := l.Drop(ctx); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %s", l.What, oneLine(err)))
			continue
		}
		removed++
		fmt.Fprintf(w, "removed %s\n", l.What)
	}
	sayKept(w, name, kept)
	if len(errs) > 0 {
		return fmt.Errorf("%s: could not remove: %s", name, strings.Join(errs, "; "))
	}
	if removed == 0 {
		fmt.Fprintf(w, "%s: nothing to remove\n", name)
	}
	return nil
}

// cleanLabel removes containers, then networks, then volumes matching the
// label filter ("key" or "key=value"), whatever their run: Close's sweep of
// its own run.
func cleanLabel(ctx context.Context, cli client.APIClient, w io.Writer, filter string) error {
	_, value, _ := strings.Cut(filter, "=")
	o := CleanOptions{All: true}
	if value != "" {
		o.Runs = []string{value}
	}
	return cleanDocker(ctx, cli, o, w)
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

// removeNetwork removes a network, trying again for a moment while the
// engine still detaches the containers just removed from it ("has active
// endpoints" right after a forced container removal, seen on a busy
// machine).
func removeNetwork(ctx context.Context, cli client.APIClient, id string) error {
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		_, err = cli.NetworkRemove(ctx, id, client.NetworkRemoveOptions{})
		if err == nil || gone(err) {
			return nil
		}
		if !strings.Contains(err.Error(), "active endpoints") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
	return err
}

// gone reports whether err says the thing is no longer there, or is being
// removed by someone else: its own grader (a live run cleaned with --all)
// may remove it between the listing and the removal, and what is gone is
// clean.
func gone(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "not found") || strings.Contains(msg, "no such") ||
		strings.Contains(msg, "already in progress")
}
