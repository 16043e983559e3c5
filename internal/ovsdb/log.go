package ovsdb

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// The file format is Open vSwitch's standalone OVSDB log (ovsdb(5)): a
// sequence of records, each a header line
//
//	OVSDB JSON <length> <sha1>\n
//
// followed by <length> bytes of JSON and a new-line. The first record is the
// schema, the others are transactions ({"Table": {"uuid": row-or-null},
// "_date": ms, "_comment": "…"}), so ovsdb-tool (show-log, query, compact,
// convert) reads our files, and our reader stops at the first record that is
// short or whose SHA-1 does not match: a torn write at the end is dropped.

const logMagic = "JSON"

// logFile is an open log for appending.
type logFile struct {
	f    *os.File
	path string
	size int64
	// snapSize is the size of the file right after the last compaction
	// (schema + one snapshot record), records the number of transaction
	// records since.
	snapSize int64
	records  int
	dirty    bool // records written without fsync
}

type logRecord struct {
	json []byte
	sum  [20]byte
}

// readLog reads every whole record of the file. It returns the offset just
// past the last good record; what follows it is a torn or corrupt tail.
func readLog(r io.Reader) (recs []logRecord, good int64, err error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var off int64
	for {
		line, err := br.ReadSlice('\n')
		if err == io.EOF && len(line) == 0 {
			return recs, off, nil
		}
		if err != nil {
			return recs, off, nil // torn header
		}
		hdr := string(line[:len(line)-1])
		var magic, sum string
		var length int64
		if n, _ := fmt.Sscanf(hdr, "OVSDB %s %d %s", &magic, &length, &sum); n != 3 || magic != logMagic || len(sum) != 40 || length <= 0 || length > 1<<31 {
			if len(recs) == 0 {
				return nil, 0, fmt.Errorf("not an OVSDB standalone log (header %q)", truncate(hdr, 60))
			}
			return recs, off, nil
		}
		body := make([]byte, length)
		if _, err := io.ReadFull(br, body); err != nil {
			return recs, off, nil
		}
		var want [20]byte
		if _, err := hex.Decode(want[:], []byte(sum)); err != nil {
			return recs, off, nil
		}
		got := sha1.Sum(body)
		if got != want {
			return recs, off, nil
		}
		recs = append(recs, logRecord{json: bytes.TrimRight(body, " \t\r\n"), sum: got})
		off += int64(len(line)) + length
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// appendRecord frames one record; as in Open vSwitch, the length and the
// SHA-1 cover the JSON and its trailing new-line.
func appendRecord(buf []byte, js []byte) ([]byte, [20]byte) {
	h := sha1.New()
	h.Write(js)
	h.Write([]byte{'\n'})
	var sum [20]byte
	h.Sum(sum[:0])
	buf = append(buf, "OVSDB "+logMagic+" "...)
	buf = strconv.AppendInt(buf, int64(len(js)+1), 10)
	buf = append(buf, ' ')
	buf = hex.AppendEncode(buf, sum[:])
	buf = append(buf, '\n')
	buf = append(buf, js...)
	buf = append(buf, '\n')
	return buf, sum
}

// openLogFile opens path for appending after the good prefix (truncating a
// torn tail, and syncing the truncation).
func openLogFile(path string, good int64) (*logFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.Size() != good {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, fmt.Errorf("truncate torn tail of %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return &logFile{f: f, path: path, size: good, snapSize: good}, nil
}

// append writes one record and, when sync is set, fsyncs before returning
// (which also makes every earlier unsynced record durable). On a failed
// write the file is truncated back, so a later record never follows a torn
// one.
func (l *logFile) append(js []byte, sync bool) ([20]byte, error) {
	buf, sum := appendRecord(make([]byte, 0, len(js)+80), js)
	if _, err := l.f.Write(buf); err != nil {
		_ = l.f.Truncate(l.size)
		_, _ = l.f.Seek(l.size, io.SeekStart)
		return sum, err
	}
	if !sync {
		l.size += int64(len(buf))
		l.records++
		l.dirty = true
		return sum, nil
	}
	l.dirty = false
	if err := l.f.Sync(); err != nil {
		_ = l.f.Truncate(l.size)
		_, _ = l.f.Seek(l.size, io.SeekStart)
		return sum, err
	}
	l.size += int64(len(buf))
	l.records++
	return sum, nil
}

// writeFresh writes a new file (schema and, when snap is not nil, one
// snapshot record) next to path, fsyncs it, renames it over path and fsyncs
// the directory: a crash leaves either the old file or the new one.
func writeFresh(path string, schema, snap []byte) (int64, error) {
	tmp := path + ".tmp"
	var buf []byte
	buf, _ = appendRecord(buf, schema)
	if snap != nil {
		buf, _ = appendRecord(buf, snap)
	}
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		os.Remove(tmp)
		return 0, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return 0, err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return 0, err
	}
	return int64(len(buf)), syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

func (l *logFile) close() error {
	if l.dirty {
		_ = l.f.Sync()
	}
	return l.f.Close()
}

// decodeJSON decodes with numbers kept exact.
func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after JSON value")
	}
	return nil
}
