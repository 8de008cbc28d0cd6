package services

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// Clean removes every container, network and volume labelled io.grader.run
// (whatever the run id: runs still going lose theirs too) and prints what
// it removed. Without Docker it returns an *EnvError.
func Clean(ctx context.Context, w io.Writer) error {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	cli, err := dockerClient(pctx)
	cancel()
	if err != nil {
		return &EnvError{
			Message: fmt.Sprintf("docker is not reachable (%s): nothing was cleaned", oneLine(err)),
			Fix:     "start Docker and run 'grader clean' again (without Docker the grader starts no containers)",
		}
	}
	return cleanLabel(ctx, cli, w, LabelRun)
}

// cleanLabel removes containers, then networks, then volumes matching the
// label filter ("key" or "key=value").
func cleanLabel(ctx context.Context, cli client.APIClient, w io.Writer, filter string) error {
	f := client.Filters{}.Add("label", filter)
	var errs []string
	removed := 0

	ctrs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("list containers: %s", oneLine(err))
	}
	for _, c := range ctrs.Items {
		name := strings.TrimPrefix(firstOr(c.Names, c.ID[:12]), "/")
		_, _ = cli.ContainerUnpause(ctx, c.ID, client.ContainerUnpauseOptions{})
		if _, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
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
	for _, n := range nets.Items {
		if _, err := cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil {
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
	for _, v := range vols.Items {
		if _, err := cli.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true}); err != nil {
			errs = append(errs, fmt.Sprintf("volume %s: %s", v.Name, oneLine(err)))
			continue
		}
		removed++
		fmt.Fprintf(w, "removed volume %s (%s=%s)\n", v.Name, LabelRun, v.Labels[LabelRun])
	}

	if len(errs) > 0 {
		return errors.New("could not remove: " + strings.Join(errs, "; "))
	}
	if removed == 0 {
		fmt.Fprintf(w, "nothing to clean: no container, network or volume carries the label %s\n", LabelRun)
	}
	return nil
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}
