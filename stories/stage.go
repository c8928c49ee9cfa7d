package stories

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/newsroom/digest/store"
)

// stage is a story import's staging table: a TEMP table on one
// connection of the store, filled in batches while the file is read.
// Writing it takes no lock on the store's database; commit moves its
// rows into stories in one transaction.
type stage struct {
	conn  *sql.Conn
	stmt  *sql.Stmt
	batch []stagedRow
	seq   int64
}

// stagedRow is one story as the batch insert reads it (a JSON array).
type stagedRow struct {
	Section   string  `json:"s"`
	Title     string  `json:"t"`
	URL       string  `json:"u"`
	Teaser    string  `json:"x"`
	Published int64   `json:"p"`
	Score     float64 `json:"c"`
}

// stageBatch is how many stories go to the staging table per statement:
// with SQLite in pure Go the statement, not the row, is what costs.
const stageBatch = 1000

func newStage(ctx context.Context, db *store.DB) (*stage, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	st := &stage{conn: conn}
	if _, err := conn.ExecContext(ctx, `DROP TABLE IF EXISTS temp.story_import`); err == nil {
		_, err = conn.ExecContext(ctx, `CREATE TEMP TABLE story_import (
			seq INTEGER PRIMARY KEY, section TEXT NOT NULL, title TEXT NOT NULL, url TEXT NOT NULL,
			teaser TEXT NOT NULL, published_at INTEGER NOT NULL, score REAL NOT NULL)`)
	}
	if err == nil {
		st.stmt, err = conn.PrepareContext(ctx, `INSERT INTO temp.story_import (seq, section, title, url, teaser, published_at, score)
			SELECT ? + j.key, j.value ->> 's', j.value ->> 't', j.value ->> 'u', j.value ->> 'x', j.value ->> 'p', j.value ->> 'c'
			FROM json_each(?) AS j`)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("import: staging table: %w", err)
	}
	return st, nil
}

// add stages one checked story.
func (st *stage) add(ctx context.Context, s Story) error {
	st.batch = append(st.batch, stagedRow{Section: oneLine(s.Section), Title: s.Title, URL: s.URL, Teaser: s.Teaser,
		Published: s.PublishedAt.Unix(), Score: s.Score})
	if len(st.batch) >= stageBatch {
		return st.flush(ctx)
	}
	return nil
}

func (st *stage) flush(ctx context.Context) error {
	if len(st.batch) == 0 {
		return nil
	}
	rows, err := json.Marshal(st.batch)
	if err != nil {
		return err
	}
	if _, err := st.stmt.ExecContext(ctx, st.seq, string(rows)); err != nil {
		return fmt.Errorf("import: staging table: %w", err)
	}
	st.seq += int64(len(st.batch))
	st.batch = st.batch[:0]
	return nil
}

// commit moves the staged stories into the store in one transaction: new
// sections first, in the order the file names them, then every story in
// file order through the same upsert as AddAll, so a URL given twice ends
// as its last line says.
func (st *stage) commit(ctx context.Context, now time.Time) error {
	if err := st.flush(ctx); err != nil {
		return err
	}
	tx, err := st.conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT section FROM temp.story_import GROUP BY section ORDER BY MIN(seq)`)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fmt.Errorf("import: %w", err)
		}
		names = append(names, name)
	}
	rows.Close()
	for _, name := range names {
		if _, err := EnsureSection(ctx, tx, name, now); err != nil {
			return err
		}
	}
	// WHERE true: SQLite's rule for an upsert fed by a SELECT.
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO stories (section_id, title, url, teaser, published_at, score, created_at, updated_at)
		SELECT c.id, i.title, i.url, i.teaser, i.published_at, i.score, ?1, ?1
		FROM temp.story_import i JOIN sections c ON c.name = i.section WHERE true ORDER BY i.seq
		`+onURLConflict, now.Unix()); err != nil {
		return fmt.Errorf("import: store stories: %w", err)
	}
	return tx.Commit()
}

// close drops the staging table and gives the connection back.
func (st *stage) close() {
	ctx := context.Background()
	if st.stmt != nil {
		st.stmt.Close()
	}
	st.conn.ExecContext(ctx, `DROP TABLE IF EXISTS temp.story_import`)
	st.conn.Close()
}
