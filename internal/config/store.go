package config

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/switchyard-net/switchyard/internal/errs"
)

var (
	bucket      = []byte("switchyard")
	keyConfig   = []byte("config")
	keyRevision = []byte("revision")
	// flowsBucket holds one bucket per bridge: rule identity → rule line
	// (ovs-ofctl syntax with port numbers), plus keyFlowsInit once the
	// bridge's rules were written (so a new bridge gets its default rule).
	flowsBucket  = []byte("flows")
	keyFlowsInit = []byte("\x00initialized")
)

// Store is the persistent configuration: a bbolt database file in the state
// directory. Every Update is one bbolt transaction (fsynced on commit), so a
// crash at any moment leaves either the old or the new configuration.
type Store struct {
	db *bolt.DB

	mu      sync.Mutex
	cur     *Config
	rev     uint64
	watches []chan struct{}
}

// Open opens (or creates) the store in dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, "config.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w (is another daemon using this state dir?)", path, err)
	}
	s := &Store{db: db, cur: Empty()}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		if raw := b.Get(keyConfig); raw != nil {
			c := Empty()
			if err := json.Unmarshal(raw, c); err != nil {
				return fmt.Errorf("decode stored config: %w", err)
			}
			if c.Bridges == nil {
				c.Bridges = map[string]*Bridge{}
			}
			if c.Ports == nil {
				c.Ports = map[string]*Port{}
			}
			s.cur = c
		}
		if _, err := tx.CreateBucketIfNotExists(flowsBucket); err != nil {
			return err
		}
		if raw := b.Get(keyRevision); raw != nil {
			fmt.Sscan(string(raw), &s.rev)
		}
		// Stores written before ports had stable numbers: give them
		// theirs now, once.
		before, _ := json.Marshal(s.cur)
		s.cur.AssignOFPorts()
		if after, _ := json.Marshal(s.cur); string(after) != string(before) {
			return b.Put(keyConfig, after)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("load store %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Get returns a copy of the current configuration and its revision.
func (s *Store) Get() (*Config, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur.Clone(), s.rev
}

// Update applies fn to a copy of the configuration, validates the result
// whole and, only if it is valid, commits it in one transaction and bumps the
// revision. If fn or validation fails, nothing changes.
func (s *Store) Update(fn func(c *Config) error) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.cur.Clone()
	if err := fn(next); err != nil {
		return s.rev, err
	}
	next.AssignOFPorts() // every stored port has its stable number
	if err := next.Validate(); err != nil {
		return s.rev, err
	}
	raw, err := json.Marshal(next)
	if err != nil {
		return s.rev, err
	}
	rev := s.rev + 1
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if err := b.Put(keyConfig, raw); err != nil {
			return err
		}
		// A bridge that goes takes its stored rules with it.
		fb := tx.Bucket(flowsBucket)
		for name := range s.cur.Bridges {
			if _, kept := next.Bridges[name]; !kept && fb.Bucket([]byte(name)) != nil {
				if err := fb.DeleteBucket([]byte(name)); err != nil {
					return err
				}
			}
		}
		return b.Put(keyRevision, []byte(fmt.Sprint(rev)))
	})
	if err != nil {
		return s.rev, fmt.Errorf("commit config: %w", err)
	}
	s.cur, s.rev = next, rev
	for _, w := range s.watches {
		select {
		case w <- struct{}{}:
		default:
		}
	}
	return rev, nil
}

// Watch returns a channel that receives a value (coalesced) after every
// committed change.
func (s *Store) Watch() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := make(chan struct{}, 1)
	s.watches = append(s.watches, w)
	return w
}

// Flows returns the stored rules of bridge (lines in ovs-ofctl syntax,
// ports by number) and whether any were ever stored for it.
func (s *Store) Flows(bridge string) (lines []string, initialized bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(flowsBucket).Bucket([]byte(bridge))
		if b == nil {
			return nil
		}
		initialized = b.Get(keyFlowsInit) != nil
		return b.ForEach(func(k, v []byte) error {
			if string(k) != string(keyFlowsInit) {
				lines = append(lines, string(v))
			}
			return nil
		})
	})
	return lines, initialized, err
}

// WriteFlows stores a change of bridge's rules in one transaction: put maps
// rule identities to lines, del lists identities to remove. The bridge must
// exist. The change is on disk when WriteFlows returns.
func (s *Store) WriteFlows(bridge string, put map[string]string, del []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cur.Bridges[bridge]; !ok {
		return errs.NotFoundf("bridge", "bridge %q does not exist", bridge)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(flowsBucket).CreateBucketIfNotExists([]byte(bridge))
		if err != nil {
			return err
		}
		for _, k := range del {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
		// In key order: bbolt inserts into an in-memory node by shifting
		// it, and splits nodes only at commit, so keys in random order
		// make a large batch quadratic (100,000 rules: 20 s instead of
		// a fraction of one).
		for _, k := range slices.Sorted(maps.Keys(put)) {
			if err := b.Put([]byte(k), []byte(put[k])); err != nil {
				return err
			}
		}
		return b.Put(keyFlowsInit, []byte{1})
	})
	if err != nil {
		return errs.Failedf("flows", err, "store flows: %v", err)
	}
	return nil
}

func timeSeconds(s int) time.Duration { return time.Duration(s) * time.Second }
