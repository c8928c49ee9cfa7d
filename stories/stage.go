package stories

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/newsroom/digest/store"
)

// stage is a story import's staging table: a TEMP table on one
// connection of the store, filled in batches while the file is read.
// Writing it takes no lock on the store's database; commit moves its
// rows into stories in one transaction.
type stage struct {
	conn *sql.Conn
	// full inserts a whole batch, one the rows of a last, short one.
	full, one *sql.Stmt
	args      []any
	seq       int64
}

// stageBatch is how many stories go to the staging table per statement
// (9 parameters each): with SQLite in pure Go the statement, not the row,
// is what costs.
const stageBatch = 200

const stageColumns = 9

func newStage(ctx context.Context, db *store.DB) (*stage, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	st := &stage{conn: conn}
	if _, err := conn.ExecContext(ctx, `DROP TABLE IF EXISTS temp.story_import`); err == nil {
		_, err = conn.ExecContext(ctx, `CREATE TEMP TABLE story_import (
			seq INTEGER PRIMARY KEY, section TEXT NOT NULL, title TEXT NOT NULL, url TEXT NOT NULL,
			teaser TEXT NOT NULL, published_at INTEGER NOT NULL, score REAL NOT NULL,
			image TEXT NOT NULL, byline TEXT NOT NULL)`)
	}
	const insert = `INSERT INTO temp.story_import (seq, section, title, url, teaser, published_at, score, image, byline) VALUES `
	const row = `(?, ?, ?, ?, ?, ?, ?, ?, ?)`
	if err == nil {
		st.full, err = conn.PrepareContext(ctx, insert+strings.Repeat(row+", ", stageBatch-1)+row)
	}
	if err == nil {
		st.one, err = conn.PrepareContext(ctx, insert+row)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("import: staging table: %w", err)
	}
	return st, nil
}

// add stages one checked story.
func (st *stage) add(ctx context.Context, s Story) error {
	st.seq++
	st.args = append(st.args, st.seq, oneLine(s.Section), s.Title, s.URL, s.Teaser, s.PublishedAt.Unix(), s.Score, s.Image, s.Byline)
	if len(st.args) == stageBatch*stageColumns {
		if _, err := st.full.ExecContext(ctx, st.args...); err != nil {
			return fmt.Errorf("import: staging table: %w", err)
		}
		st.args = st.args[:0]
	}
	return nil
}

// flush stages the rows of a short last batch one by one.
func (st *stage) flush(ctx context.Context) error {
	for a := st.args; len(a) > 0; a = a[stageColumns:] {
		if _, err := st.one.ExecContext(ctx, a[:stageColumns]...); err != nil {
			return fmt.Errorf("import: staging table: %w", err)
		}
	}
	st.args = st.args[:0]
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
		INSERT INTO stories (section_id, title, url, teaser, published_at, score, image, byline, created_at, updated_at)
		SELECT c.id, i.title, i.url, i.teaser, i.published_at, i.score, i.image, i.byline, ?1, ?1
		FROM temp.story_import i JOIN sections c ON c.name = i.section WHERE true ORDER BY i.seq
		`+onURLConflict, now.Unix()); err != nil {
		return fmt.Errorf("import: store stories: %w", err)
	}
	return tx.Commit()
}

// close drops the staging table and gives the connection back.
func (st *stage) close() {
	ctx := context.Background()
	for _, stmt := range []*sql.Stmt{st.full, st.one} {
		if stmt != nil {
			stmt.Close()
		}
	}
	st.conn.ExecContext(ctx, `DROP TABLE IF EXISTS temp.story_import`)
	st.conn.Close()
}
