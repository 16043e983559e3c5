package server

import "sync"

// lockTable holds the server's named locks (RFC 7047 section 4.1.8-4.1.10):
// one owner and a queue of waiting sessions each.
type lockTable struct {
	mu    sync.Mutex
	locks map[string]*lockState
}

type lockState struct {
	owner   *session
	waiters []*session
}

func (lt *lockTable) owns(s *session, name string) bool {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	l := lt.locks[name]
	return l != nil && l.owner == s
}

// lock asks for the lock; it reports whether s owns it now.
func (lt *lockTable) lock(s *session, name string) bool {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	l := lt.locks[name]
	if l == nil {
		l = &lockState{}
		lt.locks[name] = l
	}
	switch {
	case l.owner == nil:
		l.owner = s
		return true
	case l.owner == s:
		return true
	}
	for _, w := range l.waiters {
		if w == s {
			return false
		}
	}
	l.waiters = append(l.waiters, s)
	return false
}

// steal takes the lock; the previous owner (told "stolen") waits first in
// line to get it back.
func (lt *lockTable) steal(s *session, name string) (prev *session) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	l := lt.locks[name]
	if l == nil {
		l = &lockState{}
		lt.locks[name] = l
	}
	if l.owner == s {
		return nil
	}
	prev = l.owner
	l.waiters = removeSession(l.waiters, s)
	if prev != nil {
		l.waiters = append([]*session{prev}, l.waiters...)
	}
	l.owner = s
	return prev
}

// unlock releases the lock (or leaves the queue); it returns the session
// that gets the lock now, if any.
func (lt *lockTable) unlock(s *session, name string) (next *session) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	l := lt.locks[name]
	if l == nil {
		return nil
	}
	if l.owner != s {
		l.waiters = removeSession(l.waiters, s)
	} else {
		l.owner = nil
		if len(l.waiters) > 0 {
			l.owner, l.waiters = l.waiters[0], l.waiters[1:]
			next = l.owner
		}
	}
	if l.owner == nil && len(l.waiters) == 0 {
		delete(lt.locks, name)
	}
	return next
}

// held returns the names of the locks s owns or waits for.
func (lt *lockTable) held(s *session) []string {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	var out []string
	for name, l := range lt.locks {
		if l.owner == s {
			out = append(out, name)
			continue
		}
		for _, w := range l.waiters {
			if w == s {
				out = append(out, name)
				break
			}
		}
	}
	return out
}

func removeSession(l []*session, s *session) []*session {
	out := l[:0]
	for _, w := range l {
		if w != s {
			out = append(out, w)
		}
	}
	return out
}
