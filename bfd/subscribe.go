package bfd

import "sync"

// subscriber buffers state changes without bound so that a slow consumer
// never blocks a session loop; a pump goroutine feeds the consumer's channel.
type subscriber struct {
	mu     sync.Mutex
	queue  []StateChange
	signal chan struct{} // capacity 1: "queue is non-empty"
	out    chan StateChange
	done   chan struct{}
}

// Subscribe returns a channel of every state change from now on, in order,
// and a cancel function that stops delivery and closes the channel. Session
// loops never wait for the consumer.
func (m *Manager) Subscribe() (<-chan StateChange, func()) {
	s := &subscriber{
		signal: make(chan struct{}, 1),
		out:    make(chan StateChange),
		done:   make(chan struct{}),
	}
	m.mu.Lock()
	m.subs[s] = struct{}{}
	m.mu.Unlock()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		defer close(s.out)
		for {
			select {
			case <-s.done:
				return
			case <-s.signal:
			}
			s.mu.Lock()
			batch := s.queue
			s.queue = nil
			s.mu.Unlock()
			for _, ev := range batch {
				select {
				case s.out <- ev:
				case <-s.done:
					return
				}
			}
		}
	}()
	var once sync.Once
	cancel := func() {
		once.Do(func() {
			m.mu.Lock()
			delete(m.subs, s)
			m.mu.Unlock()
			close(s.done)
			<-stopped
		})
	}
	return s.out, cancel
}

func (m *Manager) publish(ev StateChange) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for s := range m.subs {
		s.mu.Lock()
		s.queue = append(s.queue, ev)
		s.mu.Unlock()
		select {
		case s.signal <- struct{}{}:
		default:
		}
	}
}
