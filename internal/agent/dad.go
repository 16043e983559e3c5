package agent

import "time"

// Duplicate detection (RFC 7432 §15.1): a MAC whose binding moves between
// hosts Moves times within Window is flagged and frozen where it points,
// so that two VMs claiming one MAC (or an orchestrator fighting over it)
// cannot make every switch flap; an IP whose owner MAC changes that often
// is flagged and frozen likewise. A freeze lifts after a quiet Window.

// DADConfig configures duplicate detection.
type DADConfig struct {
	// Moves within Window that flag a duplicate (default 5; RFC 7432's).
	Moves int
	// Window (default 180 s; RFC 7432's).
	Window time.Duration
	// Disabled turns detection off.
	Disabled bool
}

func (c DADConfig) withDefaults() DADConfig {
	if c.Moves == 0 {
		c.Moves = 5
	}
	if c.Window == 0 {
		c.Window = 180 * time.Second
	}
	return c
}

type track[V comparable] struct {
	last  V
	times []time.Time
	seen  time.Time
}

// mobility counts value changes per key; tracks exist only for keys that
// moved or were deleted recently, so a quiet remote MAC costs nothing.
type mobility[K comparable, V comparable] struct {
	cfg DADConfig
	m   map[K]*track[V]
}

func newMobility[K comparable, V comparable](cfg DADConfig) *mobility[K, V] {
	return &mobility[K, V]{cfg: cfg, m: map[K]*track[V]{}}
}

// moved records a change of k from old to v at now and says whether the
// key is now a duplicate (Moves changes within Window).
func (m *mobility[K, V]) moved(k K, old, v V, now time.Time) (int, bool) {
	if m.cfg.Disabled || old == v {
		return 0, false
	}
	t := m.m[k]
	if t == nil {
		t = &track[V]{}
		m.m[k] = t
	}
	t.last, t.seen = v, now
	t.times = prune(append(t.times, now), now, m.cfg.Window)
	return len(t.times), len(t.times) >= m.cfg.Moves
}

// gone remembers the last value of a deleted key, so that a delete and
// re-add elsewhere counts as a move.
func (m *mobility[K, V]) gone(k K, v V, now time.Time) {
	if m.cfg.Disabled {
		return
	}
	t := m.m[k]
	if t == nil {
		t = &track[V]{}
		m.m[k] = t
	}
	t.last, t.seen = v, now
}

// last returns the remembered value of a deleted key.
func (m *mobility[K, V]) last(k K) (V, bool) {
	t, ok := m.m[k]
	if !ok {
		var z V
		return z, false
	}
	return t.last, true
}

// expire drops tracks with no change within the window.
func (m *mobility[K, V]) expire(now time.Time) {
	for k, t := range m.m {
		t.times = prune(t.times, now, m.cfg.Window)
		if len(t.times) == 0 && now.Sub(t.seen) >= m.cfg.Window {
			delete(m.m, k)
		}
	}
}

func prune(ts []time.Time, now time.Time, w time.Duration) []time.Time {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= w {
		i++
	}
	return ts[i:]
}
