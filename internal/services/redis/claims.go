package redis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/backend-grader/grader/internal/services/service"
)

// Logical databases are handed out by claims in db 0: the key
// grader:db:<n> holds the scope's name with a lease that a goroutine renews
// while the scope lives, so a crashed grader's claims lapse by themselves.
// The set grader:dbs-used remembers the databases the grader has ever used:
// a non-empty database that is not in it belongs to someone else (a
// learner's own app on the same Redis) and is never claimed nor cleared.
const (
	ClaimPrefix  = "grader:db:"
	UsedSetKey   = "grader:dbs-used"
	claimLease   = 10 * time.Minute
	claimRenewal = 2 * time.Minute
)

var (
	renewScript   = goredis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`)
	releaseScript = goredis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)
)

// claim is a scope's hold on one logical database.
type claim struct {
	meta  *goredis.Client
	key   string
	owner string
	stop  chan struct{}
	done  sync.WaitGroup
}

// countDBs reads the number of logical databases: CONFIG GET when allowed,
// else the highest index SELECT accepts (binary search).
func countDBs(ctx context.Context, c *goredis.Client) (int, error) {
	if err := c.Ping(ctx).Err(); err != nil {
		return 0, err
	}
	if v, err := c.ConfigGet(ctx, "databases").Result(); err == nil {
		if n, err := strconv.Atoi(v["databases"]); err == nil && n > 0 {
			return n, nil
		}
	}
	conn := c.Conn()
	defer conn.Close()
	ok := func(i int) bool { return conn.Select(ctx, i).Err() == nil }
	lo, hi := 0, 1<<16 // lo is selectable; hi is not (an assumption checked below)
	if !ok(lo) {
		return 0, errors.New("SELECT 0 fails")
	}
	if ok(hi) {
		return hi + 1, nil
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if ok(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo + 1, nil
}

// claim takes a free logical database for owner and clears it.
func (in *instance) claim(ctx context.Context, owner string) (int, *claim, error) {
	start := 1 + rand.IntN(in.dbs-1) // spread concurrent runs over the databases
	foreign := 0
	for i := 0; i < in.dbs-1; i++ {
		n := 1 + (start-1+i)%(in.dbs-1)
		key := ClaimPrefix + strconv.Itoa(n)
		got, err := in.meta.SetNX(ctx, key, owner, claimLease).Result()
		if err != nil {
			return 0, nil, fmt.Errorf("claim a redis database: %w", err)
		}
		if !got {
			continue
		}
		usable, err := in.usable(ctx, n)
		if err == nil && usable {
			err = in.meta.SAdd(ctx, UsedSetKey, n).Err()
		}
		if err == nil && usable {
			err = clearDB(ctx, in.dbClient(n))
		}
		if err != nil || !usable {
			_ = releaseScript.Run(context.WithoutCancel(ctx), in.meta, []string{key}, owner).Err()
			if err != nil {
				return 0, nil, fmt.Errorf("claim redis database %d: %w", n, err)
			}
			foreign++
			continue
		}
		c := &claim{meta: in.meta, key: key, owner: owner, stop: make(chan struct{})}
		c.done.Add(1)
		go c.renew()
		return n, c, nil
	}
	msg := fmt.Sprintf("no free redis database at %s: all %d are in use by other grader runs", service.HostPort(in.url), in.dbs-1)
	if foreign > 0 {
		msg = fmt.Sprintf("no free redis database at %s: of %d, %d hold data the grader did not write and the others are in use by grader runs", service.HostPort(in.url), in.dbs-1, foreign)
	}
	return 0, nil, &service.EnvError{Message: msg,
		Fix: "wait for other runs to finish, give Redis more databases ('databases 64'), or use --services docker (its Redis has 1024)"}
}

// usable: empty, or used by the grader before.
func (in *instance) usable(ctx context.Context, n int) (bool, error) {
	used, err := in.meta.SIsMember(ctx, UsedSetKey, n).Result()
	if err != nil || used {
		return used, err
	}
	c := in.dbClient(n)
	defer c.Close()
	size, err := c.DBSize(ctx).Result()
	return size == 0, err
}

func (in *instance) dbClient(n int) *goredis.Client {
	opt := *in.meta.Options()
	opt.DB = n
	opt.PoolSize = 2
	return goredis.NewClient(&opt)
}

// renew extends the lease until release.
func (c *claim) renew() {
	defer c.done.Done()
	t := time.NewTicker(claimRenewal)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = renewScript.Run(ctx, c.meta, []string{c.key}, c.owner, claimLease.Milliseconds()).Err()
			cancel()
		}
	}
}

// release stops renewing and gives the database back.
func (c *claim) release(ctx context.Context) error {
	close(c.stop)
	c.done.Wait()
	return releaseScript.Run(ctx, c.meta, []string{c.key}, c.owner).Err()
}

// clearDB deletes every key of c's database with SCAN + UNLINK (the
// grader's Redis refuses FLUSHDB), then closes c.
func clearDB(ctx context.Context, c *goredis.Client) error {
	defer c.Close()
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, "*", 1000).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := c.Unlink(ctx, keys...).Err(); err != nil {
				if !strings.Contains(err.Error(), "unknown command") {
					return err
				}
				if err := c.Del(ctx, keys...).Err(); err != nil {
					return err
				}
			}
		}
		cursor = next
		if cursor == 0 {
			return nil
		}
	}
}

// give empties database n and gives it back.
func (in *instance) give(ctx context.Context, n int, c *claim) error {
	var errs []string
	if err := clearDB(ctx, in.dbClient(n)); err != nil {
		errs = append(errs, fmt.Sprintf("clear redis database %d: %s", n, service.OneLine(err)))
	}
	if err := c.release(ctx); err != nil {
		errs = append(errs, fmt.Sprintf("release redis database %d: %s", n, service.OneLine(err)))
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// Leftovers are the claims of logical databases held by grader_* scopes
// (dropping one empties its database and deletes the claim, if the same
// owner still holds it) and the grader_* ACL users. A server per scope
// (docker mode) leaves nothing here: its container goes by label.
func (in *instance) Leftovers(ctx context.Context) ([]service.Leftover, error) {
	var out []service.Leftover
	var cursor uint64
	for {
		keys, next, err := in.meta.Scan(ctx, cursor, ClaimPrefix+"*", 1000).Result()
		if err != nil {
			return nil, fmt.Errorf("redis: list the claims: %w", err)
		}
		for _, key := range keys {
			n, err := strconv.Atoi(strings.TrimPrefix(key, ClaimPrefix))
			if err != nil || n < 1 {
				continue
			}
			owner, err := in.meta.Get(ctx, key).Result()
			if err != nil || !strings.HasPrefix(owner, service.ScopePrefix) {
				continue // gone meanwhile, or not a scope's
			}
			out = append(out, service.Leftover{Scope: owner,
				What: fmt.Sprintf("redis database %d (claimed by %s)", n, owner),
				Drop: func(ctx context.Context) error {
					// Still the same owner's? Then empty it, and give it back.
					if cur, err := in.meta.Get(ctx, key).Result(); err != nil || cur != owner {
						return nil
					}
					if err := clearDB(ctx, in.dbClient(n)); err != nil {
						return fmt.Errorf("redis: clear database %d: %w", n, err)
					}
					return releaseScript.Run(ctx, in.meta, []string{key}, owner).Err()
				}})
		}
		cursor = next
		if cursor == 0 {
			break
		}
	}
	if !in.acl {
		return out, nil
	}
	users, err := in.meta.Do(ctx, "ACL", "USERS").StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redis: list the users: %w", err)
	}
	for _, u := range users {
		if !strings.HasPrefix(u, service.ScopePrefix) {
			continue
		}
		out = append(out, service.Leftover{Scope: u, What: "redis user " + u,
			Drop: func(ctx context.Context) error { return in.meta.Do(ctx, "ACL", "DELUSER", u).Err() }})
	}
	return out, nil
}
