package submission

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestScanSourceFindsPrefixAndVariables(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		base  string
		env   map[string]string
	}{
		{"node", map[string]string{
			"package.json":  `{"scripts": {"start": "node src/index.js"}}`,
			"src/index.js":  "const router = require('./routes');\napp.use('/api/v1', router);\napp.listen(process.env.PORT);\n",
			"src/routes.js": "router.get('/api/v1/health', h);\nrouter.post('/api/v1/todos', c);\n",
			"src/db.js": "new Pool({host: process.env.DB_HOST, port: process.env['DB_PORT'], user: process.env.DB_USER,\n" +
				"password: process.env.DB_PASSWORD, database: process.env.DB_NAME});\nconst mongo = process.env.MONGO_URI;\n",
			"node_modules/x/index.js": "process.env.SHOULD_NOT_BE_SEEN; app.get('/v2/x')",
		}, "/api/v1", map[string]string{
			"DB_HOST": "${DATABASE_URL.host}", "DB_PORT": "${DATABASE_URL.port}", "DB_USER": "${DATABASE_URL.user}",
			"DB_PASSWORD": "${DATABASE_URL.password}", "DB_NAME": "${DATABASE_URL.database}", "MONGO_URI": "",
		}},
		{"go", map[string]string{
			"go.mod":       "module x\n",
			"main.go":      "package main\nfunc main() {\n\tdsn := os.Getenv(\"DB_URL\")\n\tr := os.Getenv(\"REDIS_ADDR\")\n\ts := os.Getenv(\"TOKEN_SECRET\")\n\tp := os.Getenv(\"PORT\")\n\tmux.HandleFunc(\"GET /health\", h)\n}\n",
			"main_test.go": "os.Getenv(\"TEST_ONLY\")",
		}, "", map[string]string{
			"DB_URL": "${DATABASE_URL}", "REDIS_ADDR": "${REDIS_URL.host}", "TOKEN_SECRET": "${JWT_SECRET}",
		}},
		{"python", map[string]string{
			"app.py": "import os\nDB = os.environ['POSTGRES_DSN']\nttl = int(os.environ.get('CACHE_TTL', '60'))\n" +
				"limit = os.getenv('RATE_LIMIT_MAX')\nwin = os.getenv(\"RATE_LIMIT_WINDOW\")\n" +
				"bp = Blueprint('todos', __name__, url_prefix='/api')\n@bp.get('/todos')\ndef f(): pass\n",
		}, "/api", map[string]string{
			"POSTGRES_DSN": "${DATABASE_URL}", "CACHE_TTL": "${CACHE_TTL_SECONDS}",
			"RATE_LIMIT_MAX": "${RATE_LIMIT_REQUESTS}", "RATE_LIMIT_WINDOW": "${RATE_LIMIT_WINDOW_SECONDS}",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := ScanSource(project(t, tc.files))
			if h.BasePath != tc.base {
				t.Errorf("BasePath = %q, want %q", h.BasePath, tc.base)
			}
			if d := cmp.Diff(tc.env, h.Env); d != "" {
				t.Errorf("Env (-want +got):\n%s", d)
			}
			for n := range h.Env {
				if h.Files[n] == "" {
					t.Errorf("%s: no file said", n)
				}
			}
		})
	}
}
