//! Realistic, deterministic Datadog-style log events.
//!
//! The generator draws from a fixed vocabulary (31 services, 500 hosts, a
//! couple of hundred message templates) with skewed (Zipf-like) choices, so
//! the output repeats itself the way production logs do and compresses
//! accordingly. All randomness comes from the caller's RNG: the same RNG state
//! and `now_ms` always produce byte-identical output.
//!
//! This file is long (over the ~800-line habit) because most of it is the
//! template vocabulary: a data table, the accepted exception.

use std::fmt::Write as _;
use std::sync::OnceLock;

use rand::Rng;
use serde::Serialize;

// ---------------------------------------------------------------------------
// Vocabulary
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Debug,
    Info,
    Warn,
    Error,
    Critical,
}

const LEVELS: [Level; 5] = [
    Level::Debug,
    Level::Info,
    Level::Warn,
    Level::Error,
    Level::Critical,
];

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Critical => "critical",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

const D: u8 = 1;
const I: u8 = 2;
const W: u8 = 4;
const E: u8 = 8;
const C: u8 = 16;

/// info 80%, warn 10%, error 6%, debug 3.3%, critical 0.7%.
fn sample_level<R: Rng + ?Sized>(rng: &mut R) -> Level {
    let x: f64 = rng.gen();
    if x < 0.80 {
        Level::Info
    } else if x < 0.90 {
        Level::Warn
    } else if x < 0.96 {
        Level::Error
    } else if x < 0.993 {
        Level::Debug
    } else {
        Level::Critical
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cat {
    Edge,
    Api,
    Worker,
    Store,
}

const EDGE: u8 = 1;
const API: u8 = 2;
const WRK: u8 = 4;
const STORE: u8 = 8;
const APP: u8 = API | WRK;

impl Cat {
    fn bit(self) -> u8 {
        match self {
            Cat::Edge => EDGE,
            Cat::Api => API,
            Cat::Worker => WRK,
            Cat::Store => STORE,
        }
    }

    fn host_role(self) -> &'static str {
        match self {
            Cat::Edge => "web",
            Cat::Api => "api",
            Cat::Worker => "worker",
            Cat::Store => "db",
        }
    }
}

/// (name, ddsource, category), most popular first.
const SERVICES: &[(&str, &str, Cat)] = &[
    ("frontend-nginx", "nginx", Cat::Edge),
    ("checkout", "java", Cat::Api),
    ("api-gateway", "nginx", Cat::Edge),
    ("auth-api", "go", Cat::Api),
    ("cart-service", "java", Cat::Api),
    ("catalog-api", "python", Cat::Api),
    ("payments-worker", "python", Cat::Worker),
    ("search-api", "java", Cat::Api),
    ("edge-proxy", "envoy", Cat::Edge),
    ("user-profile", "python", Cat::Api),
    ("orders-api", "go", Cat::Api),
    ("postgres-main", "postgresql", Cat::Store),
    ("redis-cache", "redis", Cat::Store),
    ("notifications-api", "nodejs", Cat::Api),
    ("order-fulfillment", "java", Cat::Worker),
    ("pricing", "go", Cat::Api),
    ("recommendations", "python", Cat::Api),
    ("inventory", "java", Cat::Api),
    ("email-sender", "nodejs", Cat::Worker),
    ("graphql-bff", "nodejs", Cat::Api),
    ("fraud-scoring", "python", Cat::Worker),
    ("search-indexer", "java", Cat::Worker),
    ("shipping-api", "ruby", Cat::Api),
    ("kafka-broker", "kafka", Cat::Store),
    ("image-resizer", "go", Cat::Worker),
    ("billing-api", "java", Cat::Api),
    ("webhook-dispatcher", "go", Cat::Worker),
    ("static-assets", "nginx", Cat::Edge),
    ("admin-portal", "ruby", Cat::Api),
    ("report-builder", "python", Cat::Worker),
    ("etl-nightly", "python", Cat::Worker),
];

/// Number of distinct hosts in the generated fleet.
pub const HOST_COUNT: usize = 500;

const REGIONS: [&str; 4] = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1"];

#[derive(Debug)]
struct Service {
    name: &'static str,
    source: &'static str,
    cat: Cat,
    version: String,
    canary_version: String,
    host_start: usize,
    host_len: usize,
    /// Per level: cumulative weights and template indices.
    candidates: [Vec<(u32, u16)>; 5],
}

#[derive(Debug)]
struct Host {
    name: String,
    region: &'static str,
    env: &'static str,
    canary: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A raw access-log line from a proxy (nginx, envoy).
    Access,
    /// An instrumented application's request log with `http.*` attributes.
    Request,
    Auth,
    Db,
    Cache,
    Queue,
    Runtime,
    Lifecycle,
    /// An error with `error.kind` / `error.message` / `error.stack`.
    Exception,
    /// A datastore's own server log (postgres, redis, kafka).
    Store,
}

#[derive(Debug)]
struct Template {
    text: String,
    kind: Kind,
    cats: u8,
    levels: u8,
    sources: &'static [&'static str],
    weight: u32,
}

#[derive(Debug)]
struct Vocab {
    services: Vec<Service>,
    hosts: Vec<Host>,
    templates: Vec<Template>,
}

fn vocab() -> &'static Vocab {
    static VOCAB: OnceLock<Vocab> = OnceLock::new();
    VOCAB.get_or_init(build_vocab)
}

/// SplitMix64 finalizer: a fixed, seedless hash for the static vocabulary.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Probability that [`zipf_ish`] over `n` picks `k`.
fn zipf_ish_p(k: usize, n: usize) -> f64 {
    ((k as f64 + 2.0) / (k as f64 + 1.0)).ln() / (n as f64 + 1.0).ln()
}

/// A cheap Zipf(s=1)-like pick in `0..n`: log-uniform, so P(k) ~ 1/(k+1).
fn zipf_ish<R: Rng + ?Sized>(rng: &mut R, n: usize) -> usize {
    let u: f64 = rng.gen();
    let k = (n as f64 + 1.0).powf(u) as usize;
    k.saturating_sub(1).min(n.saturating_sub(1))
}

fn pick_skewed<'a, R: Rng + ?Sized, T>(rng: &mut R, items: &'a [T]) -> &'a T {
    &items[zipf_ish(rng, items.len())]
}

fn std_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1: f64 = 1.0 - rng.gen::<f64>();
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn lognormal<R: Rng + ?Sized>(rng: &mut R, median: f64, sigma: f64) -> f64 {
    median * (sigma * std_normal(rng)).exp()
}

fn build_vocab() -> Vocab {
    let n = SERVICES.len();
    // Hosts are split into contiguous per-service pools sized by popularity.
    let spare = HOST_COUNT - 4 * n;
    let mut lens: Vec<usize> = (0..n)
        .map(|k| 4 + (spare as f64 * zipf_ish_p(k, n)) as usize)
        .collect();
    let used: usize = lens.iter().sum();
    lens[0] += HOST_COUNT - used;

    let templates = build_templates();
    let mut hosts = Vec::with_capacity(HOST_COUNT);
    let mut services = Vec::with_capacity(n);
    let mut start = 0;
    for (s, &(name, source, cat)) in SERVICES.iter().enumerate() {
        let len = lens[s];
        for local in 0..len {
            let h = hosts.len();
            let region = REGIONS[[0, 0, 0, 1, 1, 2, 3][h % 7]];
            let env = match h % 20 {
                0..=15 => "prod",
                16..=18 => "staging",
                _ => "dev",
            };
            let name = if h % 3 == 0 {
                format!("i-0{:016x}", mix64(h as u64 ^ 0x5EED))
            } else {
                format!("{}-{h:03}.{region}", cat.host_role())
            };
            hosts.push(Host {
                name,
                region,
                env,
                canary: local % 10 == 9,
            });
        }
        let x = mix64(s as u64 + 1000);
        let (major, minor, patch) = (1 + x % 4, (x >> 8) % 40, (x >> 16) % 15);
        let mut candidates: [Vec<(u32, u16)>; 5] = Default::default();
        for level in LEVELS {
            let mut cum = 0u32;
            for (i, t) in templates.iter().enumerate() {
                let src_ok = t.sources.is_empty() || t.sources.contains(&source);
                if t.cats & cat.bit() != 0 && t.levels & level.bit() != 0 && src_ok {
                    cum += t.weight;
                    candidates[level.index()].push((cum, i as u16));
                }
            }
        }
        services.push(Service {
            name,
            source,
            cat,
            version: format!("{major}.{minor}.{patch}"),
            canary_version: format!("{major}.{minor}.{}", patch + 1),
            host_start: start,
            host_len: len,
            candidates,
        });
        start += len;
    }
    Vocab {
        services,
        hosts,
        templates,
    }
}

// ---------------------------------------------------------------------------
// Message templates
// ---------------------------------------------------------------------------

const NGINX: &[&str] = &["nginx"];
const ENVOY: &[&str] = &["envoy"];
const JAVA: &[&str] = &["java"];
const PYTHON: &[&str] = &["python"];
const GO: &[&str] = &["go"];
const NODE: &[&str] = &["nodejs"];
const RUBY: &[&str] = &["ruby"];
const POSTGRES: &[&str] = &["postgresql"];
const REDIS: &[&str] = &["redis"];
const KAFKA: &[&str] = &["kafka"];
const ANY: &[&str] = &[];

const TABLES: [&str; 12] = [
    "orders",
    "users",
    "carts",
    "cart_items",
    "payments",
    "products",
    "inventory",
    "shipments",
    "sessions",
    "invoices",
    "events",
    "accounts",
];

fn build_templates() -> Vec<Template> {
    let mut v: Vec<Template> = Vec::with_capacity(256);
    let mut t = |text: &str,
                 kind: Kind,
                 cats: u8,
                 levels: u8,
                 sources: &'static [&'static str],
                 weight: u32| {
        v.push(Template {
            text: text.to_owned(),
            kind,
            cats,
            levels,
            sources,
            weight,
        });
    };
    use Kind::*;

    // --- proxies: access lines -------------------------------------------
    t(
        r#"{ip} - - [{clf_time}] "{method} {path} HTTP/1.1" {code} {bytes} "-" "{ua}""#,
        Access,
        EDGE,
        I | W | E | C,
        NGINX,
        60,
    );
    t(
        r#"{ip} - - [{clf_time}] "{method} {path} HTTP/2.0" {code} {bytes} "https://{vhost}/" "{ua}" {secs}"#,
        Access,
        EDGE,
        I | W | E | C,
        NGINX,
        15,
    );
    t(
        r#"{ip} - {user} [{clf_time}] "{method} {path} HTTP/1.1" {code} {bytes} rt={secs} urt={secs}"#,
        Access,
        EDGE,
        I | W | E,
        NGINX,
        15,
    );
    t(
        r#"[{iso_time}] "{method} {path} HTTP/1.1" {code} - 0 {bytes} {ms_int} - "{ip}" "{ua}" "{uuid}" "{vhost}" "{upstream}""#,
        Access,
        EDGE,
        I | W | E | C,
        ENVOY,
        80,
    );
    t(
        r#"[{iso_time}] "{method} {path} HTTP/2" {code} UF 0 0 {ms_int} - "{ip}" "-" "{uuid}" "{vhost}" "-""#,
        Access,
        EDGE,
        E | C,
        ENVOY,
        10,
    );
    // nginx error log
    t(
        r#"*{conn} upstream timed out (110: Connection timed out) while reading response header from upstream, client: {ip}, server: {vhost}, request: "{method} {path} HTTP/1.1", upstream: "http://{upstream}{path}""#,
        Access,
        EDGE,
        E | C,
        NGINX,
        6,
    );
    t(
        r#"*{conn} connect() failed (111: Connection refused) while connecting to upstream, client: {ip}, server: {vhost}, request: "{method} {path} HTTP/1.1", upstream: "http://{upstream}{path}""#,
        Access,
        EDGE,
        E | C,
        NGINX,
        4,
    );
    t(
        r#"*{conn} no live upstreams while connecting to upstream, client: {ip}, server: {vhost}, request: "{method} {path} HTTP/1.1""#,
        Access,
        EDGE,
        C,
        NGINX,
        3,
    );
    t(
        r#"*{conn} upstream prematurely closed connection while reading response header from upstream, client: {ip}, server: {vhost}"#,
        Access,
        EDGE,
        E,
        NGINX,
        3,
    );
    t(
        r#"*{conn} limiting requests, excess: {excess} by zone "api_limit", client: {ip}, server: {vhost}, request: "{method} {path} HTTP/1.1""#,
        Access,
        EDGE,
        W,
        NGINX,
        4,
    );
    t(
        r#"*{conn} client intended to send too large body: {bigbytes} bytes, client: {ip}, server: {vhost}, request: "POST {path} HTTP/1.1""#,
        Access,
        EDGE,
        W,
        NGINX,
        2,
    );
    t(
        r#"*{conn} SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number) while SSL handshaking, client: {ip}, server: 0.0.0.0:443"#,
        Access,
        EDGE,
        W,
        NGINX,
        2,
    );
    t(
        r#"*{conn} open() "/usr/share/nginx/html{path}" failed (2: No such file or directory), client: {ip}, server: {vhost}"#,
        Access,
        EDGE,
        W | E,
        NGINX,
        3,
    );
    t(
        r#"*{conn} http upstream request: "{path}?""#,
        Lifecycle,
        EDGE,
        D,
        NGINX,
        3,
    );
    t(
        "*{conn} http keepalive handler",
        Lifecycle,
        EDGE,
        D,
        NGINX,
        2,
    );
    t(
        r#"*{conn} http finalize request: 0, "{path}?" a:1, c:1"#,
        Lifecycle,
        EDGE,
        D,
        NGINX,
        2,
    );
    t("signal process started", Lifecycle, EDGE, I, NGINX, 1);
    t(
        "worker process {pid} exited with code 0",
        Lifecycle,
        EDGE,
        I,
        NGINX,
        1,
    );
    t(
        "using the \"epoll\" event method",
        Lifecycle,
        EDGE,
        I,
        NGINX,
        1,
    );
    t("start worker process {pid}", Lifecycle, EDGE, I, NGINX, 1);
    // envoy
    t("[debug][router] [source/common/router/router.cc:{line}] [C{conn}][S{id}] cluster '{svc2}' match for URL '{path}'", Lifecycle, EDGE, D, ENVOY, 3);
    t("[debug][pool] [source/common/conn_pool/conn_pool_base.cc:{line}] [C{conn}] attaching to next stream", Lifecycle, EDGE, D, ENVOY, 2);
    t("[info][upstream] [source/common/upstream/cds_api_helper.cc:32] cds: add {n} cluster(s), remove 0 cluster(s)", Lifecycle, EDGE, I, ENVOY, 1);
    t("[warning][config] [source/common/config/grpc_stream.h:{line}] StreamAggregatedResources gRPC config stream closed: 14, upstream connect error or disconnect/reset before headers", Lifecycle, EDGE, W, ENVOY, 3);
    t("[warning][client] [source/common/http/codec_client.cc:{line}] [C{conn}] protocol error: http/1.1 protocol error: HPE_INVALID_METHOD", Access, EDGE, W, ENVOY, 2);
    t("[error][upstream] [source/common/upstream/health_checker_impl.cc:{line}] health check failed for {upstream}: connection refused", Lifecycle, EDGE, E | C, ENVOY, 3);
    t("[critical][main] [source/server/server.cc:{line}] error initializing configuration '/etc/envoy/envoy.yaml': Proto constraint validation failed", Lifecycle, EDGE, C, ENVOY, 1);

    // --- application request logs ----------------------------------------
    t(
        "{method} {path} {code} {ms}ms",
        Request,
        API,
        D | I | W | E | C,
        ANY,
        12,
    );
    t(
        "request completed method={method} path={path} status={code} duration_ms={ms}",
        Request,
        API,
        I | W | E,
        ANY,
        10,
    );
    t(
        "Handled {method} {path} -> {code} ({ms} ms)",
        Request,
        API,
        I | W | E,
        ANY,
        6,
    );
    t(
        r#""{method} {path} HTTP/1.1" {code} {bytes}"#,
        Request,
        API,
        I | W | E,
        PYTHON,
        8,
    );
    t(
        r#"{ip} - - "{method} {path} HTTP/1.1" {code} {bytes} "-" "{ua}" {ms_int}"#,
        Request,
        API,
        I | W,
        PYTHON,
        4,
    );
    t("Completed {code} {reason} in {ms}ms (Views: {ms2}ms | ActiveRecord: {ms3}ms | Allocations: {n})", Request, API, I | W | E, RUBY, 10);
    t(
        r#"Started {method} "{path}" for {ip}"#,
        Request,
        API,
        D | I,
        RUBY,
        6,
    );
    t(
        "Processing by {controller}#{action} as JSON",
        Request,
        API,
        D | I,
        RUBY,
        4,
    );
    t(
        "{method} {path} {code} {bytes} - {ms} ms",
        Request,
        API,
        I | W | E,
        NODE,
        10,
    );
    t(
        r#"{"level":30,"msg":"request completed","reqId":"req-{n}","res":{"statusCode":{code}},"responseTime":{ms}}"#,
        Request,
        API,
        I,
        NODE,
        3,
    );
    t(
        "Completed initialization in {ms_int} ms",
        Lifecycle,
        API,
        I,
        JAVA,
        1,
    );
    t(
        "ServletRequestHandler: {method} {path} completed with status {code} in {ms_int} ms",
        Request,
        API,
        I | W | E,
        JAVA,
        10,
    );
    t(
        "[http-nio-8080-exec-{n}] {method} {path} status={code} took={ms_int}ms",
        Request,
        API,
        I | W | E,
        JAVA,
        6,
    );
    t(
        r#"level=info msg="request" method={method} path={path} status={code} dur={ms}ms"#,
        Request,
        API,
        I,
        GO,
        10,
    );
    t(
        r#"level=warn msg="request" method={method} path={path} status={code} dur={ms}ms"#,
        Request,
        API,
        W,
        GO,
        10,
    );
    t(
        r#"level=error msg="request failed" method={method} path={path} status={code} dur={ms}ms err="{dep}: context deadline exceeded""#,
        Request,
        API,
        E | C,
        GO,
        10,
    );
    t(
        r#"level=debug msg="incoming request" method={method} path={path} remote={ip} request_id={uuid}"#,
        Request,
        API,
        D,
        GO,
        5,
    );
    t(
        "request received method={method} path={path} request_id={uuid}",
        Request,
        API,
        D,
        ANY,
        4,
    );
    t(
        "slow request: {method} {path} took {slow_ms}ms (threshold 500ms)",
        Request,
        API,
        W,
        ANY,
        6,
    );
    t(
        "rate limit exceeded for user {user} on {path}, retry after {n}s",
        Request,
        API,
        W,
        ANY,
        4,
    );
    t(
        r#"request validation failed: field "{field}" {verr}"#,
        Request,
        API,
        W,
        ANY,
        4,
    );
    t(
        "request failed: {method} {path} returned {code} after {ms}ms: upstream {dep} unavailable",
        Request,
        API,
        E | C,
        ANY,
        6,
    );
    t(
        "circuit breaker OPEN for dependency {dep} after {n} consecutive failures",
        Lifecycle,
        APP,
        E | C,
        ANY,
        3,
    );
    t(
        "timeout calling {dep} {path2} after {slow_ms}ms (attempt {attempt}/3)",
        Request,
        APP,
        W | E,
        ANY,
        5,
    );
    t(
        "retrying call to {dep} in {ms_int}ms (attempt {attempt}/3)",
        Lifecycle,
        APP,
        W,
        ANY,
        3,
    );
    t(
        "outbound call {dep} GET {path2} -> 200 in {ms}ms",
        Request,
        APP,
        D,
        ANY,
        3,
    );

    // --- auth ------------------------------------------------------------
    t(
        "user {user} logged in from {ip} via {authmethod}",
        Auth,
        API,
        I,
        ANY,
        4,
    );
    t(
        r#"issued access token for user {user} client_id={client} scope="{scope}" expires_in=3600"#,
        Auth,
        API,
        I,
        ANY,
        3,
    );
    t(
        "authentication failed for user {user} from {ip}: invalid password ({attempt} attempts)",
        Auth,
        API,
        W,
        ANY,
        5,
    );
    t(
        "authentication failed: token expired for user {user}",
        Auth,
        API,
        W,
        ANY,
        3,
    );
    t(
        "rejected request from {ip}: invalid API key ending in {hex4}",
        Auth,
        API,
        W,
        ANY,
        3,
    );
    t(
        "permission denied: user {user} lacks scope \"{scope}\" for {method} {path}",
        Auth,
        API,
        W,
        ANY,
        3,
    );
    t(
        "account {user} locked after {n} failed login attempts from {ip}",
        Auth,
        API,
        E,
        ANY,
        2,
    );
    t(
        "JWT signature verification failed: kid={hex8} not found in JWKS",
        Auth,
        API,
        E | C,
        ANY,
        2,
    );
    t(
        "session {hex16} refreshed for user {user}",
        Auth,
        API,
        D | I,
        ANY,
        3,
    );
    t(
        "password reset requested for user {user}",
        Auth,
        API,
        I,
        ANY,
        1,
    );
    t(
        "MFA challenge {verdict} for user {user}",
        Auth,
        API,
        I | W,
        ANY,
        2,
    );

    // --- database (client side) -----------------------------------------
    for table in TABLES {
        t(
            &format!("SELECT from {table} completed in {{ms}}ms rows={{n}}"),
            Db,
            APP,
            D | I,
            ANY,
            2,
        );
        t(
            &format!("INSERT INTO {table} ({{n}} rows) took {{ms}}ms"),
            Db,
            APP,
            D | I,
            ANY,
            1,
        );
        t(
            &format!("UPDATE {table} SET updated_at=now() WHERE id={{id}} took {{ms}}ms"),
            Db,
            APP,
            D | I,
            ANY,
            1,
        );
        t(&format!("slow query ({{slow_ms}} ms): SELECT * FROM {table} WHERE account_id = $1 ORDER BY created_at DESC LIMIT 50"), Db, APP, W, ANY, 1);
    }
    t(
        "deadlock detected while updating {table}, retrying transaction (attempt {attempt})",
        Db,
        APP,
        W | E,
        ANY,
        2,
    );
    t(
        "connection pool exhausted: {n} active, 0 idle, waited {slow_ms}ms",
        Db,
        APP,
        W | E,
        ANY,
        3,
    );
    t(
        "could not serialize access due to concurrent update on {table}",
        Db,
        APP,
        E,
        ANY,
        2,
    );
    t("database connection lost: {dberr}", Db, APP, E | C, ANY, 3);
    t(
        "acquired connection from pool in {ms}ms (active={n}, idle={n2})",
        Db,
        APP,
        D,
        ANY,
        3,
    );
    t("migration {ver} applied in {ms}ms", Db, APP, I, ANY, 1);
    t(
        "HikariPool-1 - Connection is not available, request timed out after {slow_ms}ms.",
        Db,
        APP,
        E | C,
        JAVA,
        3,
    );
    t(
        "HikariPool-1 - Pool stats (total={n}, active={n2}, idle=0, waiting={n})",
        Db,
        APP,
        D | W,
        JAVA,
        2,
    );
    t(
        "psycopg2.OperationalError: server closed the connection unexpectedly",
        Db,
        APP,
        E,
        PYTHON,
        2,
    );
    t("ActiveRecord::ConnectionTimeoutError: could not obtain a connection from the pool within 5.000 seconds", Db, APP, E, RUBY, 2);

    // --- cache -----------------------------------------------------------
    for family in [
        "user:{user}:profile",
        "session:{hex16}",
        "product:{id}",
        "cart:{id}",
        "price:{id}:USD",
        "ratelimit:{ip}",
    ] {
        t(
            &format!("cache miss for key {family}, loaded in {{ms}}ms"),
            Cache,
            APP,
            D | I,
            ANY,
            2,
        );
        t(
            &format!("cache hit for key {family}"),
            Cache,
            APP,
            D,
            ANY,
            2,
        );
        t(
            &format!("cache set {family} ttl={{n}}s size={{bytes}}B"),
            Cache,
            APP,
            D,
            ANY,
            1,
        );
        t(
            &format!("cache evicted {family} (LRU, {{pct}}% full)"),
            Cache,
            APP,
            D | I,
            ANY,
            1,
        );
    }
    t("redis GET {hex8} took {ms}ms", Cache, APP, D, ANY, 2);
    t(
        "cache stampede protection: {n} waiters for key product:{id}",
        Cache,
        APP,
        W,
        ANY,
        2,
    );
    t("redis connection error: {rerr}", Cache, APP, E | W, ANY, 2);
    t(
        "cache hit ratio {pct}% over last 60s ({n} lookups)",
        Cache,
        APP,
        I,
        ANY,
        2,
    );

    // --- queues and jobs -------------------------------------------------
    t(
        "processed batch of {n} messages from {queue} in {ms}ms",
        Queue,
        WRK,
        I,
        ANY,
        8,
    );
    t(
        "consumer lag on {topic} partition {part} is {lag} messages",
        Queue,
        WRK,
        I | W,
        ANY,
        4,
    );
    t(
        "message {uuid} moved to dead-letter queue {queue}.dlq after 5 attempts",
        Queue,
        WRK,
        E,
        ANY,
        2,
    );
    t(
        "rebalancing consumer group {group}: assigned partitions [{part}, {part2}]",
        Queue,
        WRK,
        I,
        ANY,
        1,
    );
    t(
        "committed offset {offset} for {topic}-{part}",
        Queue,
        WRK,
        D,
        ANY,
        3,
    );
    t(
        "queue {queue} depth {lag} exceeds threshold 10000",
        Queue,
        WRK,
        W | C,
        ANY,
        2,
    );
    t(
        "webhook delivery to https://{vhost}/hooks/{hex8} failed with {code} after {ms}ms",
        Queue,
        WRK,
        W | E,
        ANY,
        2,
    );
    t(
        "payment {order} captured amount={amount} currency={currency} provider=stripe",
        Queue,
        WRK,
        I,
        ANY,
        3,
    );
    t(
        "email {email_tmpl} sent to user {user} message_id=<{uuid}@mail.example.com>",
        Queue,
        WRK,
        I,
        ANY,
        3,
    );
    t(
        "worker heartbeat: {n} jobs in flight, {n2} idle threads",
        Queue,
        WRK,
        D,
        ANY,
        2,
    );
    for job in [
        "SendReceiptEmail",
        "CapturePayment",
        "SyncInventory",
        "GenerateInvoice",
        "ResizeImage",
        "ReindexProduct",
        "ScoreTransaction",
        "DeliverWebhook",
        "BuildReport",
        "ExportOrders",
    ] {
        t(
            &format!("job {{job}} ({job}) completed in {{ms}}ms"),
            Queue,
            WRK,
            I,
            ANY,
            2,
        );
        t(
            &format!("enqueued {job} job {{job}} priority={{prio}}"),
            Queue,
            WRK,
            D | I,
            ANY,
            1,
        );
        t(&format!("job {{job}} ({job}) failed: {{excmsg}}; retrying in {{n}}s (attempt {{attempt}}/5)"), Queue, WRK, W | E, ANY, 1);
    }

    // --- runtimes --------------------------------------------------------
    t(
        "[gc] GC({n}) Pause Young (Normal) (G1 Evacuation Pause) {mb}M->{mb2}M({mb3}M) {ms}ms",
        Runtime,
        APP,
        I | D,
        JAVA,
        4,
    );
    t(
        "[gc] GC({n}) Pause Full (G1 Compaction Pause) {mb}M->{mb2}M({mb3}M) {slow_ms}ms",
        Runtime,
        APP,
        W | E,
        JAVA,
        2,
    );
    t(
        "java.lang.OutOfMemoryError: Java heap space",
        Runtime,
        APP,
        C,
        JAVA,
        1,
    );
    t(
        "heap usage at {pct}% of 4096M after GC",
        Runtime,
        APP,
        W,
        JAVA,
        1,
    );
    t(
        "gc {n} @{secs}s 2%: 0.020+{ms}+0.011 ms clock, {mb}->{mb2}->{mb3} MB, {n2} P",
        Runtime,
        APP,
        D | I,
        GO,
        4,
    );
    t(
        "runtime: goroutines={n} heap_alloc={mb}MB gc_pause_p99={ms}ms",
        Runtime,
        APP,
        D,
        GO,
        2,
    );
    t("fatal error: concurrent map writes", Runtime, APP, C, GO, 1);
    t(
        "event loop lag {slow_ms}ms exceeds 200ms threshold",
        Runtime,
        APP,
        W,
        NODE,
        3,
    );
    t(
        "heap used {mb}MB / {mb3}MB, external {mb2}MB",
        Runtime,
        APP,
        D,
        NODE,
        2,
    );
    t(
        "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
        Runtime,
        APP,
        C,
        NODE,
        1,
    );
    t(
        "[CRITICAL] WORKER TIMEOUT (pid:{pid})",
        Runtime,
        APP,
        C | E,
        PYTHON,
        2,
    );
    t("Booting worker with pid: {pid}", Runtime, APP, I, PYTHON, 1);
    t("Puma worker {n} booted, phase: 0", Runtime, APP, I, RUBY, 1);
    t(
        "thread pool saturated: {n} active threads, queue size {lag}",
        Runtime,
        APP,
        W,
        ANY,
        2,
    );
    t(
        "process rss={mb}MB open_fds={n} threads={n2}",
        Runtime,
        APP,
        D,
        ANY,
        2,
    );

    // --- lifecycle -------------------------------------------------------
    t(
        "starting {svc} version {ver} on port {port}",
        Lifecycle,
        APP,
        I,
        ANY,
        1,
    );
    t(
        "health check passed ({deps} dependencies ok)",
        Lifecycle,
        APP,
        D | I,
        ANY,
        3,
    );
    t(
        "config reloaded from /etc/{svc}/config.yaml (checksum {hex8})",
        Lifecycle,
        APP,
        I,
        ANY,
        1,
    );
    t(
        "received SIGTERM, draining {n} in-flight requests",
        Lifecycle,
        APP,
        W,
        ANY,
        1,
    );
    t(
        "feature flag {flag} evaluated to {bool} for user {user}",
        Lifecycle,
        APP,
        D,
        ANY,
        3,
    );
    t(
        "dependency {dep} health check failed: {dberr}",
        Lifecycle,
        APP,
        W | E,
        ANY,
        2,
    );
    t(
        "leader election: this instance is now leader (term {n})",
        Lifecycle,
        WRK,
        I,
        ANY,
        1,
    );
    t(
        "disk usage on /var/lib/{svc} at {pct}%",
        Lifecycle,
        APP | STORE,
        W | C,
        ANY,
        1,
    );
    t(
        "TLS certificate for {vhost} expires in {n2} days",
        Lifecycle,
        APP,
        W,
        ANY,
        1,
    );

    // --- exceptions ------------------------------------------------------
    t(
        "Unhandled exception in {method} {path}: {exc}: {excmsg}",
        Exception,
        API,
        E | C,
        ANY,
        6,
    );
    t(
        "Error processing job {job}: {exc}: {excmsg}",
        Exception,
        WRK,
        E | C,
        ANY,
        6,
    );
    t("{exc}: {excmsg}", Exception, APP, E | C, ANY, 3);
    t(
        "panic recovered in handler {func}: {excmsg}",
        Exception,
        APP,
        E | C,
        GO,
        3,
    );
    t(
        "Servlet.service() for servlet [dispatcherServlet] threw exception [{exc}: {excmsg}]",
        Exception,
        API,
        E,
        JAVA,
        3,
    );
    t(
        "Internal Server Error: {path}",
        Exception,
        API,
        E,
        PYTHON,
        3,
    );
    t(
        "Exception on {path} [{method}]",
        Exception,
        API,
        E,
        PYTHON,
        2,
    );
    t(
        "UnhandledPromiseRejection: {exc}: {excmsg}",
        Exception,
        APP,
        E | C,
        NODE,
        3,
    );
    for (verb, object) in [
        ("charge card for", "order"),
        ("reserve inventory for", "order"),
        ("send receipt for", "order"),
        ("render template for", "user"),
        ("update status of", "shipment"),
        ("publish event for", "order"),
        ("resize image", "asset"),
        ("sync account", "account"),
        ("generate invoice for", "account"),
        ("calculate price for", "cart"),
    ] {
        t(
            &format!("failed to {verb} {object} {{id}}: {{exc}}: {{excmsg}}"),
            Exception,
            APP,
            E | C,
            ANY,
            1,
        );
    }

    // --- datastores: postgres --------------------------------------------
    t(
        "connection received: host={peer} port={port}",
        Store,
        STORE,
        D,
        POSTGRES,
        4,
    );
    t(
        "connection authorized: user=app database=app application_name={svc2}",
        Store,
        STORE,
        D | I,
        POSTGRES,
        3,
    );
    t(
        "duration: {ms} ms  statement: SELECT * FROM {table} WHERE id = {id}",
        Store,
        STORE,
        I,
        POSTGRES,
        8,
    );
    t(
        "duration: {slow_ms} ms  execute <unnamed>: UPDATE {table} SET status = $1 WHERE id = $2",
        Store,
        STORE,
        W,
        POSTGRES,
        4,
    );
    t("checkpoint complete: wrote {n} buffers (0.{n2}%); 0 WAL file(s) added, 0 removed, {part} recycled; write={secs} s, sync=0.002 s, total={secs} s", Store, STORE, I, POSTGRES, 2);
    t(
        r#"automatic vacuum of table "app.public.{table}": index scans: 1, pages: 0 removed, {n} remain, tuples: {n2} removed"#,
        Store,
        STORE,
        I,
        POSTGRES,
        2,
    );
    t(
        "could not receive data from client: Connection reset by peer",
        Store,
        STORE,
        W,
        POSTGRES,
        2,
    );
    t("deadlock detected", Store, STORE, E, POSTGRES, 2);
    t(
        r#"duplicate key value violates unique constraint "{table}_pkey""#,
        Store,
        STORE,
        E,
        POSTGRES,
        3,
    );
    t(
        "canceling statement due to statement timeout",
        Store,
        STORE,
        E,
        POSTGRES,
        2,
    );
    t(
        "terminating connection due to administrator command",
        Store,
        STORE,
        E | C,
        POSTGRES,
        1,
    );
    t(
        "remaining connection slots are reserved for non-replication superuser connections",
        Store,
        STORE,
        C,
        POSTGRES,
        2,
    );
    // redis
    t("Accepted {peer}:{port}", Store, STORE, D, REDIS, 3);
    t(
        "Client closed connection id={id} addr={peer}:{port}",
        Store,
        STORE,
        D,
        REDIS,
        2,
    );
    t(
        "{n} changes in 60 seconds. Saving...",
        Store,
        STORE,
        I,
        REDIS,
        3,
    );
    t(
        "Background saving started by pid {pid}",
        Store,
        STORE,
        I,
        REDIS,
        3,
    );
    t("DB saved on disk", Store, STORE, I, REDIS, 3);
    t(
        "Background saving terminated with success",
        Store,
        STORE,
        I,
        REDIS,
        3,
    );
    t("Client id={id} addr={peer}:{port} laddr=10.0.0.5:6379 fd={n} name= age={n2} idle=0 flags=N db=0 cmd=psync scheduled to be closed ASAP for overcoming of output buffer limits.", Store, STORE, W, REDIS, 2);
    t("Asynchronous AOF fsync is taking too long (disk is busy?). Writing the AOF buffer without waiting for fsync to complete, this may slow down Redis.", Store, STORE, W, REDIS, 2);
    t("Background saving error", Store, STORE, E, REDIS, 2);
    t(
        "Error trying to save the DB, can't exit.",
        Store,
        STORE,
        E,
        REDIS,
        1,
    );
    t("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.", Store, STORE, C, REDIS, 1);
    t(
        "Out Of Memory allocating {bigbytes} bytes!",
        Store,
        STORE,
        C,
        REDIS,
        1,
    );
    // kafka
    t("[Log partition={topic}-{part}, dir=/var/lib/kafka/data] Incremented log start offset to {offset} due to segment deletion", Store, STORE, D, KAFKA, 2);
    t("[ProducerStateManager partition={topic}-{part}] Wrote producer snapshot at offset {offset} with 0 producer ids in {ms_int} ms.", Store, STORE, D | I, KAFKA, 2);
    t("[LocalLog partition={topic}-{part}, dir=/var/lib/kafka/data] Rolled new log segment at offset {offset} in {ms_int} ms.", Store, STORE, I, KAFKA, 4);
    t("[GroupCoordinator 1]: Preparing to rebalance group {group} in state PreparingRebalance with old generation {n} (reason: Adding new member)", Store, STORE, I, KAFKA, 3);
    t(
        "[GroupCoordinator 1]: Stabilized group {group} generation {n} with {n2} members",
        Store,
        STORE,
        I,
        KAFKA,
        3,
    );
    t("[Partition {topic}-{part} broker=1] Shrinking ISR from 1,2,3 to 1,2. Leader: (highWatermark: {offset}, endOffset: {offset})", Store, STORE, W, KAFKA, 3);
    t("[ReplicaFetcher replicaId=2, leaderId=1, fetcherId=0] Error for partition {topic}-{part} at offset {offset}: NOT_LEADER_OR_FOLLOWER", Store, STORE, W, KAFKA, 2);
    t("[ReplicaFetcher replicaId=2, leaderId=1, fetcherId=0] Error in response for fetch request: java.io.IOException: Connection to 1 was disconnected before the response was read", Store, STORE, E, KAFKA, 3);
    t(
        "Shutdown broker because all log dirs in /var/lib/kafka/data have failed",
        Store,
        STORE,
        C,
        KAFKA,
        1,
    );
    t(
        "[Controller id=1] Error completing reassignment of partition {topic}-{part}",
        Store,
        STORE,
        E | C,
        KAFKA,
        1,
    );

    v
}

/// Number of distinct message templates the generator draws from.
pub fn template_count() -> usize {
    vocab().templates.len()
}

// ---------------------------------------------------------------------------
// Placeholder values
// ---------------------------------------------------------------------------

const METHODS: [(&str, u32); 7] = [
    ("GET", 70),
    ("POST", 20),
    ("PUT", 4),
    ("DELETE", 3),
    ("PATCH", 2),
    ("HEAD", 1),
    ("OPTIONS", 1),
];

const ROUTES: [&str; 32] = [
    "/api/v1/products/{id}",
    "/api/v1/cart",
    "/api/v2/checkout",
    "/health",
    "/api/v1/users/{user}",
    "/api/v1/search?q={word}",
    "/graphql",
    "/api/v1/orders/{id}",
    "/static/js/app.{hex8}.js",
    "/api/v1/cart/items",
    "/login",
    "/api/v1/products?category={word}&page={n2}",
    "/api/v1/orders/{id}/status",
    "/images/{id}/thumb.jpg",
    "/api/v1/recommendations/{user}",
    "/api/v2/payments/{order}/capture",
    "/",
    "/api/v1/inventory/{id}",
    "/oauth/token",
    "/api/v1/users/{user}/addresses",
    "/favicon.ico",
    "/api/v1/shipping/quote",
    "/metrics",
    "/api/v1/prices/{id}",
    "/static/css/main.{hex8}.css",
    "/api/v1/notifications",
    "/api/v1/reviews/{id}",
    "/admin/reports/{id}",
    "/api/v1/session",
    "/webhooks/stripe",
    "/api/v1/wishlist/{user}",
    "/robots.txt",
];

const WORDS: [&str; 16] = [
    "shoes",
    "laptop",
    "coffee",
    "jacket",
    "phone",
    "books",
    "garden",
    "toys",
    "camera",
    "watch",
    "bike",
    "desk",
    "tent",
    "lamp",
    "headphones",
    "socks",
];

const USER_AGENTS: [&str; 10] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "okhttp/4.12.0",
    "kube-probe/1.28",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "python-requests/2.31.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Go-http-client/1.1",
    "curl/8.4.0",
    "Datadog/Synthetics",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
];

const VHOSTS: [&str; 5] = [
    "www.example.com",
    "api.example.com",
    "m.example.com",
    "cdn.example.com",
    "admin.example.com",
];

const DEPS: [&str; 12] = [
    "postgres-main",
    "redis-cache",
    "payments-api",
    "inventory",
    "stripe-api",
    "pricing",
    "auth-api",
    "kafka-broker",
    "sendgrid",
    "s3",
    "search-api",
    "user-profile",
];

const QUEUES: [&str; 8] = [
    "orders",
    "payments",
    "emails",
    "webhooks",
    "image-jobs",
    "search-updates",
    "fraud-checks",
    "reports",
];

const TOPICS: [&str; 6] = [
    "orders.events",
    "payments.v2",
    "inventory.changes",
    "user.activity",
    "clickstream",
    "audit.log",
];

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

fn status_code<R: Rng + ?Sized>(rng: &mut R, level: Level) -> u16 {
    match level {
        Level::Debug | Level::Info => {
            *pick_skewed(rng, &[200, 200, 200, 200, 200, 304, 201, 204, 302, 301])
        }
        Level::Warn => *pick_skewed(rng, &[404, 400, 401, 429, 403, 422, 409]),
        Level::Error | Level::Critical => *pick_skewed(rng, &[500, 503, 502, 504]),
    }
}

/// Day count since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = (z - era * 146_097) as u64;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe as i64 + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

struct Utc {
    year: i64,
    month: u32,
    day: u32,
    hour: i64,
    min: i64,
    sec: i64,
    ms: i64,
}

fn utc(ms: i64) -> Utc {
    let secs = ms.div_euclid(1000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let tod = secs.rem_euclid(86_400);
    Utc {
        year,
        month,
        day,
        hour: tod / 3600,
        min: tod / 60 % 60,
        sec: tod % 60,
        ms: ms.rem_euclid(1000),
    }
}

/// `14/Nov/2023:22:13:20 +0000` (nginx `$time_local` in UTC).
fn clf_time(ms: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = utc(ms);
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
        t.day,
        MONTHS[(t.month - 1) as usize],
        t.year,
        t.hour,
        t.min,
        t.sec
    )
}

/// `2023-11-14T22:13:20.000Z`.
pub(crate) fn iso_time(ms: i64) -> String {
    let t = utc(ms);
    format!(
        "{}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year, t.month, t.day, t.hour, t.min, t.sec, t.ms
    )
}

struct HttpInfo {
    method: &'static str,
    path: String,
    code: u16,
    bytes: u64,
    ua: &'static str,
}

struct ErrInfo {
    kind: &'static str,
    message: String,
    stack: String,
}

struct Ctx<'r, R: Rng + ?Sized> {
    rng: &'r mut R,
    svc: &'static Service,
    level: Level,
    ts_ms: i64,
    http: Option<HttpInfo>,
    dur_ns: Option<u64>,
    user: Option<u64>,
    client_ip: Option<u32>,
    err: Option<ErrInfo>,
}

impl<R: Rng + ?Sized> Ctx<'_, R> {
    fn user(&mut self) -> u64 {
        if self.user.is_none() {
            self.user = Some(1000 + zipf_ish(self.rng, 2_000_000) as u64);
        }
        self.user.unwrap_or_default()
    }

    fn client_ip(&mut self) -> u32 {
        if self.client_ip.is_none() {
            // Clients repeat (skewed), spread over public-looking addresses.
            let k = zipf_ish(self.rng, 100_000) as u64;
            let h = mix64(k ^ 0xC11E);
            let mut a = 1 + (h % 223) as u32;
            if a == 10 || a == 127 || a == 100 || a == 172 || a == 192 {
                a += 1;
            }
            self.client_ip = Some(a << 24 | ((h >> 8) as u32 & 0x00FF_FFFF));
        }
        self.client_ip.unwrap_or_default()
    }

    /// Request duration in ns; log-normal with a long tail.
    fn duration(&mut self) -> u64 {
        if self.dur_ns.is_none() {
            let median_ms = match self.level {
                Level::Error | Level::Critical => 120.0,
                _ => 9.0,
            };
            let ms = lognormal(self.rng, median_ms, 1.25).clamp(0.05, 120_000.0);
            self.dur_ns = Some((ms * 1e6) as u64);
        }
        self.dur_ns.unwrap_or_default()
    }

    fn slow_duration(&mut self) -> u64 {
        if self.dur_ns.is_none() {
            // Pareto tail above the 500 ms threshold.
            let u: f64 = 1.0 - self.rng.gen::<f64>();
            let ms = (500.0 / u.powf(1.0 / 1.6)).min(120_000.0);
            self.dur_ns = Some((ms * 1e6) as u64);
        }
        self.dur_ns.unwrap_or_default()
    }

    fn http(&mut self) -> &HttpInfo {
        if self.http.is_none() {
            let total: u32 = METHODS.iter().map(|m| m.1).sum();
            let mut x = self.rng.gen_range(0..total);
            let mut method = "GET";
            for (m, w) in METHODS {
                if x < w {
                    method = m;
                    break;
                }
                x -= w;
            }
            let route = *pick_skewed(self.rng, &ROUTES);
            let path = fill(route, self);
            let code = status_code(self.rng, self.level);
            let bytes = if code == 204 || code == 304 {
                0
            } else {
                lognormal(self.rng, 1800.0, 1.4).min(5e7) as u64
            };
            let ua = *pick_skewed(self.rng, &USER_AGENTS);
            self.http = Some(HttpInfo {
                method,
                path,
                code,
                bytes,
                ua,
            });
        }
        self.http.as_ref().expect("set above")
    }

    fn error(&mut self) -> &ErrInfo {
        if self.err.is_none() {
            let e = make_error(self);
            self.err = Some(e);
        }
        self.err.as_ref().expect("set above")
    }

    fn internal_ip(&mut self) -> String {
        let k = zipf_ish(self.rng, 4000) as u64;
        let h = mix64(k ^ 0x1A7E);
        format!("10.{}.{}.{}", h % 16, (h >> 8) % 256, 1 + (h >> 16) % 254)
    }

    fn small(&mut self) -> u64 {
        1 + zipf_ish(self.rng, 500) as u64
    }

    fn ms_string(ns: u64) -> String {
        let ms = ns as f64 / 1e6;
        if ms < 100.0 {
            format!("{ms:.1}")
        } else {
            format!("{}", ms.round() as u64)
        }
    }

    /// Appends the value for placeholder `name`; false if it is unknown.
    fn placeholder(&mut self, name: &str, out: &mut String) -> bool {
        let rng = &mut *self.rng;
        let _ = match name {
            "ip" => {
                let ip = self.client_ip();
                write!(out, "{}", ip_string(ip))
            }
            "peer" => {
                let ip = self.internal_ip();
                write!(out, "{ip}")
            }
            "upstream" => {
                let ip = self.internal_ip();
                write!(out, "{ip}:8080")
            }
            "method" => {
                let m = self.http().method;
                write!(out, "{m}")
            }
            "path" => {
                let http = self.http();
                out.push_str(&http.path);
                Ok(())
            }
            "path2" => {
                let route = *pick_skewed(rng, &ROUTES);
                let p = fill(route, self);
                write!(out, "{p}")
            }
            "code" => {
                let c = self.http().code;
                write!(out, "{c}")
            }
            "reason" => {
                let c = self.http().code;
                write!(out, "{}", reason(c))
            }
            "bytes" => {
                let b = self.http().bytes;
                write!(out, "{b}")
            }
            "ua" => {
                let ua = self.http().ua;
                write!(out, "{ua}")
            }
            "ms" => {
                let d = self.duration();
                write!(out, "{}", Self::ms_string(d))
            }
            "slow_ms" => {
                let d = self.slow_duration();
                write!(out, "{}", d / 1_000_000)
            }
            "ms_int" => {
                let d = self.duration();
                write!(out, "{}", d / 1_000_000)
            }
            "secs" => {
                let d = self.duration();
                write!(out, "{:.3}", d as f64 / 1e9)
            }
            "ms2" | "ms3" => {
                let ms = lognormal(rng, 3.0, 1.0);
                write!(out, "{ms:.1}")
            }
            "clf_time" => write!(out, "{}", clf_time(self.ts_ms)),
            "iso_time" => write!(out, "{}", iso_time(self.ts_ms)),
            "user" => {
                let u = self.user();
                write!(out, "{u}")
            }
            "id" => {
                let id = 1 + zipf_ish(rng, 10_000_000);
                write!(out, "{id}")
            }
            "order" => {
                let id = 100_000 + zipf_ish(rng, 10_000_000);
                write!(out, "ord_{id}")
            }
            "job" => {
                let x: u64 = rng.gen();
                write!(out, "job_{:012x}", x >> 16)
            }
            "uuid" => {
                let a: u64 = rng.gen();
                let b: u64 = rng.gen();
                write!(
                    out,
                    "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
                    a >> 32,
                    (a >> 16) & 0xFFFF,
                    a & 0xFFF,
                    0x8000 | (b >> 48) & 0x3FFF,
                    b & 0xFFFF_FFFF_FFFF
                )
            }
            "hex4" => write!(out, "{:04x}", rng.gen::<u16>()),
            "hex8" => write!(out, "{:08x}", rng.gen::<u32>()),
            "hex16" => write!(out, "{:016x}", rng.gen::<u64>()),
            "n" => {
                let n = self.small();
                write!(out, "{n}")
            }
            "n2" => write!(out, "{}", 1 + zipf_ish(rng, 64)),
            "deps" => write!(out, "{}", rng.gen_range(2..9)),
            "conn" => write!(out, "{}", 1000 + rng.gen_range(0..9_000_000)),
            "excess" => write!(out, "{:.3}", rng.gen_range(0.5..40.0)),
            "bigbytes" => write!(out, "{}", rng.gen_range(10_000_000..200_000_000)),
            "pct" => write!(out, "{}", rng.gen_range(40..100)),
            "table" => write!(out, "{}", pick_skewed(rng, &TABLES)),
            "queue" => write!(out, "{}", pick_skewed(rng, &QUEUES)),
            "topic" => write!(out, "{}", pick_skewed(rng, &TOPICS)),
            "part" | "part2" => write!(out, "{}", rng.gen_range(0..12)),
            "group" => write!(out, "{}-consumers", pick_skewed(rng, &QUEUES)),
            "lag" => {
                let lag = if self.level == Level::Info {
                    zipf_ish(rng, 2000)
                } else {
                    10_000 + zipf_ish(rng, 2_000_000)
                };
                write!(out, "{lag}")
            }
            "offset" => write!(out, "{}", rng.gen_range(1_000_000u64..900_000_000)),
            "dep" => write!(out, "{}", pick_skewed(rng, &DEPS)),
            "vhost" => write!(out, "{}", pick_skewed(rng, &VHOSTS)),
            "svc" => write!(out, "{}", self.svc.name),
            "svc2" => write!(out, "{}", pick_skewed(rng, SERVICES).0),
            "ver" => write!(out, "{}", self.svc.version),
            "port" => write!(out, "{}", rng.gen_range(32768..61000)),
            "pid" => write!(out, "{}", rng.gen_range(7..65000)),
            "line" => write!(out, "{}", rng.gen_range(20..900)),
            "attempt" => write!(out, "{}", rng.gen_range(1..4)),
            "prio" => write!(out, "{}", pick_skewed(rng, &["normal", "high", "low"])),
            "mb" | "mb2" | "mb3" => write!(out, "{}", rng.gen_range(64..4096)),
            "amount" => write!(
                out,
                "{}.{:02}",
                zipf_ish(rng, 2000) + 1,
                rng.gen_range(0..100)
            ),
            "currency" => write!(
                out,
                "{}",
                pick_skewed(rng, &["USD", "EUR", "GBP", "JPY", "CAD"])
            ),
            "email_tmpl" => write!(
                out,
                "{}",
                pick_skewed(
                    rng,
                    &[
                        "order_confirmation",
                        "shipping_update",
                        "password_reset",
                        "weekly_digest",
                        "welcome"
                    ]
                )
            ),
            "client" => write!(
                out,
                "{}",
                pick_skewed(
                    rng,
                    &["web-spa", "ios-app", "android-app", "partner-acme", "cli"]
                )
            ),
            "scope" => write!(
                out,
                "{}",
                pick_skewed(
                    rng,
                    &[
                        "orders:read",
                        "orders:write",
                        "profile",
                        "admin",
                        "payments:write"
                    ]
                )
            ),
            "authmethod" => write!(
                out,
                "{}",
                pick_skewed(rng, &["password", "google-oauth", "sso-saml", "magic-link"])
            ),
            "verdict" => write!(
                out,
                "{}",
                pick_skewed(rng, &["passed", "failed", "timed out"])
            ),
            "field" => write!(
                out,
                "{}",
                pick_skewed(
                    rng,
                    &[
                        "email",
                        "quantity",
                        "postal_code",
                        "card_number",
                        "sku",
                        "currency"
                    ]
                )
            ),
            "verr" => write!(
                out,
                "{}",
                pick_skewed(
                    rng,
                    &[
                        "is required",
                        "must be positive",
                        "is invalid",
                        "is too long (max 255)"
                    ]
                )
            ),
            "dberr" => write!(
                out,
                "{}",
                pick_skewed(
                    rng,
                    &[
                        "connection refused",
                        "server closed the connection unexpectedly",
                        "i/o timeout",
                        "too many connections",
                        "SSL SYSCALL error: EOF detected",
                    ]
                )
            ),
            "rerr" => write!(
                out,
                "{}",
                pick_skewed(
                    rng,
                    &[
                        "ECONNRESET",
                        "READONLY You can't write against a read only replica.",
                        "i/o timeout",
                        "LOADING Redis is loading the dataset in memory"
                    ]
                )
            ),
            "flag" => write!(
                out,
                "{}",
                pick_skewed(
                    rng,
                    &[
                        "new-checkout-flow",
                        "dark-mode",
                        "search-v2",
                        "free-shipping-banner",
                        "async-payments"
                    ]
                )
            ),
            "bool" => write!(out, "{}", rng.gen_bool(0.5)),
            "word" => write!(out, "{}", pick_skewed(rng, &WORDS)),
            "controller" => write!(
                out,
                "{}",
                pick_skewed(
                    rng,
                    &[
                        "OrdersController",
                        "ShipmentsController",
                        "Admin::ReportsController",
                        "UsersController"
                    ]
                )
            ),
            "action" => write!(
                out,
                "{}",
                pick_skewed(rng, &["show", "index", "create", "update"])
            ),
            "func" => write!(
                out,
                "{}",
                pick_skewed(
                    rng,
                    &[
                        "HandleCheckout",
                        "GetOrder",
                        "ServeHTTP",
                        "Authorize",
                        "ListItems"
                    ]
                )
            ),
            "exc" => {
                let k = self.error().kind;
                write!(out, "{k}")
            }
            "excmsg" => {
                let e = self.error();
                out.push_str(&e.message);
                Ok(())
            }
            _ => return false,
        };
        true
    }
}

/// Replaces every `{name}` in `template` with a generated value.
fn fill<R: Rng + ?Sized>(template: &str, ctx: &mut Ctx<'_, R>) -> String {
    let mut out = String::with_capacity(template.len() + 48);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            rest = &rest[open..];
            break;
        };
        let name = &after[..close];
        if !ctx.placeholder(name, &mut out) {
            // Not a placeholder (e.g. literal JSON braces): keep it verbatim.
            out.push('{');
            rest = after;
            continue;
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

const CLASSES: [&str; 10] = [
    "Order",
    "Cart",
    "Payment",
    "Inventory",
    "Price",
    "User",
    "Shipment",
    "Invoice",
    "Search",
    "Report",
];
const METHOD_NAMES: [&str; 8] = [
    "process", "apply", "validate", "load", "reserve", "charge", "compute", "resolve",
];

fn make_error<R: Rng + ?Sized>(ctx: &mut Ctx<'_, R>) -> ErrInfo {
    let (kinds, messages): (&[&'static str], &[&str]) = match ctx.svc.source {
        "java" => (
            &[
                "java.lang.NullPointerException",
                "java.net.SocketTimeoutException",
                "java.lang.IllegalStateException",
                "org.springframework.dao.DataAccessResourceFailureException",
                "java.util.concurrent.TimeoutException",
            ],
            &[
                "Cannot invoke \"com.acme.model.Order.getId()\" because \"order\" is null",
                "Read timed out after {slow_ms} ms",
                "Cart {id} is already checked out",
                "Unable to acquire JDBC Connection",
                "Waited {slow_ms} milliseconds for response from {dep}",
            ],
        ),
        "python" => (
            &[
                "KeyError",
                "ValueError",
                "requests.exceptions.ConnectionError",
                "psycopg2.OperationalError",
                "TimeoutError",
            ],
            &[
                "'shipping_address'",
                "invalid literal for int() with base 10: 'None'",
                "HTTPConnectionPool(host='{dep}', port=80): Max retries exceeded with url: {path2}",
                "could not connect to server: Connection refused",
                "timed out after {slow_ms}ms waiting for {dep}",
            ],
        ),
        "go" => (
            &[
                "*url.Error",
                "*net.OpError",
                "runtime.Error",
                "*errors.errorString",
                "context.deadlineExceededError",
            ],
            &[
                "Post \"http://{dep}/v1/charge\": context deadline exceeded",
                "dial tcp {peer}:5432: connect: connection refused",
                "runtime error: invalid memory address or nil pointer dereference",
                "order {id}: record not found",
                "context deadline exceeded",
            ],
        ),
        "nodejs" => (
            &[
                "TypeError",
                "Error",
                "FetchError",
                "RangeError",
                "SyntaxError",
            ],
            &[
                "Cannot read properties of undefined (reading 'id')",
                "connect ECONNREFUSED {peer}:6379",
                "request to http://{dep}{path2} failed, reason: socket hang up",
                "Invalid array length",
                "Unexpected token < in JSON at position 0",
            ],
        ),
        _ => (
            &[
                "NoMethodError",
                "ActiveRecord::RecordNotFound",
                "Net::ReadTimeout",
                "ActiveRecord::StatementInvalid",
                "Faraday::ConnectionFailed",
            ],
            &[
                "undefined method `address' for nil:NilClass",
                "Couldn't find Shipment with 'id'={id}",
                "Net::ReadTimeout with #<TCPSocket:(closed)>",
                "PG::QueryCanceled: ERROR:  canceling statement due to statement timeout",
                "Failed to open TCP connection to {dep}:443 (Connection refused)",
            ],
        ),
    };
    let i = zipf_ish(ctx.rng, kinds.len());
    let kind = kinds[i];
    let message = fill(messages[i], ctx);
    let rng = &mut *ctx.rng;
    let pkg: String = ctx.svc.name.chars().filter(|c| *c != '-').collect();
    let cls = *pick_skewed(rng, &CLASSES);
    let m = *pick_skewed(rng, &METHOD_NAMES);
    let (l1, l2) = (rng.gen_range(20..600), rng.gen_range(20..300));
    let stack = match ctx.svc.source {
        "java" => format!(
            "{kind}: {message}\n\tat com.acme.{pkg}.{cls}Service.{m}({cls}Service.java:{l1})\n\tat com.acme.{pkg}.{cls}Controller.handle({cls}Controller.java:{l2})\n\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:897)\n\t... 48 more"
        ),
        "python" => format!(
            "Traceback (most recent call last):\n  File \"/app/{pkg}/views.py\", line {l1}, in {m}\n    result = service.{m}(request)\n  File \"/app/{pkg}/services.py\", line {l2}, in {m}\n    return client.post(url, json=payload, timeout=5)\n{kind}: {message}"
        ),
        "go" => format!(
            "goroutine {l1} [running]:\nmain.(*{cls}Handler).ServeHTTP(...)\n\t/src/internal/{pkg}/handler.go:{l2}\nnet/http.HandlerFunc.ServeHTTP(...)\n\t/usr/local/go/src/net/http/server.go:2136"
        ),
        "nodejs" => format!(
            "{kind}: {message}\n    at {cls}Service.{m} (/app/src/services/{pkg}.js:{l1}:17)\n    at async Router.handle (/app/node_modules/express/lib/router/index.js:284:7)"
        ),
        _ => format!(
            "{kind} ({message}):\n  app/models/{pkg}.rb:{l1}:in `{m}'\n  app/controllers/{pkg}_controller.rb:{l2}:in `create'"
        ),
    };
    ErrInfo {
        kind,
        message,
        stack,
    }
}

// ---------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------

#[derive(Serialize)]
struct UrlDetails {
    path: String,
}

#[derive(Serialize)]
struct Http {
    method: &'static str,
    status_code: u16,
    url_details: UrlDetails,
}

#[derive(Serialize)]
struct Client {
    ip: String,
}

#[derive(Serialize)]
struct Network {
    client: Client,
}

#[derive(Serialize)]
struct Usr {
    id: String,
}

#[derive(Serialize)]
struct Evt {
    name: &'static str,
    outcome: &'static str,
}

#[derive(Serialize)]
struct ErrorAttrs {
    kind: &'static str,
    message: String,
    stack: String,
}

#[derive(Serialize)]
struct Dd {
    trace_id: String,
    span_id: String,
}

/// One log event, serialized in the shape the Datadog Agent sends.
#[derive(Serialize)]
struct LogEvent {
    message: String,
    status: &'static str,
    timestamp: i64,
    hostname: &'static str,
    service: &'static str,
    ddsource: &'static str,
    ddtags: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    http: Option<Http>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<Network>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usr: Option<Usr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    evt: Option<Evt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorAttrs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dd: Option<Dd>,
}

fn ip_string(ip: u32) -> String {
    format!(
        "{}.{}.{}.{}",
        ip >> 24,
        (ip >> 16) & 255,
        (ip >> 8) & 255,
        ip & 255
    )
}

fn gen_event<R: Rng + ?Sized>(rng: &mut R, now_ms: i64, jitter_ms: i64) -> LogEvent {
    let v = vocab();
    let svc = &v.services[zipf_ish(rng, v.services.len())];
    let host = &v.hosts[svc.host_start + zipf_ish(rng, svc.host_len)];
    let level = sample_level(rng);
    let cands = &svc.candidates[level.index()];
    let total = cands.last().map_or(1, |c| c.0);
    let x = rng.gen_range(0..total);
    let ti = cands
        .partition_point(|c| c.0 <= x)
        .min(cands.len().saturating_sub(1));
    let tmpl = &v.templates[cands.get(ti).map_or(0, |c| c.1 as usize)];
    let ts_ms = now_ms - rng.gen_range(0..jitter_ms.max(1));

    let mut ctx = Ctx {
        rng: &mut *rng,
        svc,
        level,
        ts_ms,
        http: None,
        dur_ns: None,
        user: None,
        client_ip: None,
        err: None,
    };
    let message = fill(&tmpl.text, &mut ctx);
    let app = matches!(svc.cat, Cat::Api | Cat::Worker);

    let mut http = None;
    let mut network = None;
    let mut usr = None;
    let mut evt = None;
    let mut error = None;
    match tmpl.kind {
        Kind::Request => {
            ctx.http();
            ctx.duration();
            if ctx.user.is_some() || ctx.rng.gen_bool(0.5) {
                usr = Some(ctx.user());
            }
        }
        Kind::Auth => {
            usr = Some(ctx.user());
            network = Some(ctx.client_ip());
            let outcome = if level == Level::Info || level == Level::Debug {
                "success"
            } else {
                "failure"
            };
            evt = Some(Evt {
                name: "authentication",
                outcome,
            });
        }
        Kind::Exception => {
            ctx.error();
            if ctx.user.is_some() {
                usr = ctx.user;
            }
        }
        _ => {}
    }
    if tmpl.kind == Kind::Request {
        if let Some(h) = ctx.http.take() {
            http = Some(Http {
                method: h.method,
                status_code: h.code,
                url_details: UrlDetails { path: h.path },
            });
        }
    }
    if let Some(e) = ctx.err.take() {
        if tmpl.kind == Kind::Exception {
            error = Some(ErrorAttrs {
                kind: e.kind,
                message: e.message,
                stack: e.stack,
            });
        }
    }
    let dd = (app
        && tmpl.kind != Kind::Runtime
        && tmpl.kind != Kind::Lifecycle
        && ctx.rng.gen_bool(0.6))
    .then(|| Dd {
        trace_id: ctx.rng.gen::<u64>().to_string(),
        span_id: ctx.rng.gen::<u64>().to_string(),
    });
    let version = if host.canary {
        &svc.canary_version
    } else {
        &svc.version
    };
    LogEvent {
        message,
        status: level.as_str(),
        timestamp: ts_ms,
        hostname: &host.name,
        service: svc.name,
        ddsource: svc.source,
        ddtags: format!("env:{},version:{version},region:{}", host.env, host.region),
        http,
        network: network.map(|ip| Network {
            client: Client { ip: ip_string(ip) },
        }),
        duration: ctx.dur_ns,
        usr: usr.map(|u| Usr { id: u.to_string() }),
        evt,
        error,
        dd,
    }
}

/// The timestamp jitter of [`generate_batch`] and [`generate_batch_json`]:
/// an event is up to this many milliseconds older than `now_ms`.
pub const DEFAULT_JITTER_MS: i64 = 2000;

/// Generates `batch_size` realistic log events as JSON values.
///
/// Deterministic: the same RNG state and `now_ms` always yield the same
/// events. Timestamps are `now_ms` minus up to 2 s of jitter.
pub fn generate_batch<R: Rng + ?Sized>(
    rng: &mut R,
    batch_size: usize,
    now_ms: i64,
) -> Vec<serde_json::Value> {
    (0..batch_size)
        .map(|_| {
            serde_json::to_value(gen_event(rng, now_ms, DEFAULT_JITTER_MS)).unwrap_or_default()
        })
        .collect()
}

/// Generates `batch_size` events serialized as a JSON array: exactly the
/// request body `POST /api/v2/logs` expects (before compression).
///
/// Consumes the RNG exactly like [`generate_batch`], so the two agree event
/// for event. Deterministic: same RNG state and `now_ms`, same bytes.
pub fn generate_batch_json<R: Rng + ?Sized>(rng: &mut R, batch_size: usize, now_ms: i64) -> String {
    generate_batch_json_spread(rng, batch_size, now_ms, DEFAULT_JITTER_MS)
}

/// Like [`generate_batch_json`], with timestamps `now_ms` minus up to
/// `jitter_ms` (instead of 2 s); with [`DEFAULT_JITTER_MS`] the same bytes.
/// `strata bench query` spreads a day of events over its batches with it.
pub fn generate_batch_json_spread<R: Rng + ?Sized>(
    rng: &mut R,
    batch_size: usize,
    now_ms: i64,
    jitter_ms: i64,
) -> String {
    let mut out = String::with_capacity(batch_size * 360 + 2);
    out.push('[');
    for i in 0..batch_size {
        if i > 0 {
            out.push(',');
        }
        let event = gen_event(rng, now_ms, jitter_ms);
        // Serializing plain structs of strings and integers cannot fail.
        if let Ok(s) = serde_json::to_string(&event) {
            out.push_str(&s);
        }
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn spread_batches_keep_events_and_widen_timestamps() {
        let now = 1_700_000_000_000;
        let json =
            |jitter| generate_batch_json_spread(&mut StdRng::seed_from_u64(3), 2000, now, jitter);
        let default = generate_batch_json(&mut StdRng::seed_from_u64(3), 2000, now);
        assert_eq!(json(DEFAULT_JITTER_MS), default);
        let events: Vec<serde_json::Value> = serde_json::from_str(&json(3_600_000)).unwrap();
        let ts: Vec<i64> = events
            .iter()
            .map(|e| e["timestamp"].as_i64().unwrap())
            .collect();
        assert!(ts.iter().all(|t| (now - 3_600_000 + 1..=now).contains(t)));
        let (lo, hi) = (ts.iter().min().unwrap(), ts.iter().max().unwrap());
        assert!(hi - lo > 3_000_000, "{lo}..{hi}");
    }

    #[test]
    fn civil_dates_are_right() {
        assert_eq!(iso_time(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
        assert_eq!(clf_time(1_700_000_000_123), "14/Nov/2023:22:13:20 +0000");
        assert_eq!(iso_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_time(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn vocabulary_covers_every_service_and_level() {
        let v = vocab();
        assert_eq!(v.hosts.len(), HOST_COUNT);
        assert_eq!(v.services.len(), SERVICES.len());
        for s in &v.services {
            assert!(s.host_len >= 4, "{}", s.name);
            for level in LEVELS {
                assert!(
                    !s.candidates[level.index()].is_empty(),
                    "no template for {} at {}",
                    s.name,
                    level.as_str()
                );
            }
        }
        let names: std::collections::HashSet<_> = v.hosts.iter().map(|h| &h.name).collect();
        assert_eq!(names.len(), HOST_COUNT, "host names are unique");
        assert!(template_count() >= 200, "{} templates", template_count());
    }

    #[test]
    fn every_placeholder_is_known() {
        let v = vocab();
        let mut rng = StdRng::seed_from_u64(1);
        for t in &v.templates {
            for (si, s) in v.services.iter().enumerate() {
                if t.cats & s.cat.bit() == 0 {
                    continue;
                }
                let mut ctx = Ctx {
                    rng: &mut rng,
                    svc: &v.services[si],
                    level: Level::Error,
                    ts_ms: 1_700_000_000_000,
                    http: None,
                    dur_ns: None,
                    user: None,
                    client_ip: None,
                    err: None,
                };
                let msg = fill(&t.text, &mut ctx);
                // The only template with literal braces is the pino JSON line.
                if !t.text.starts_with("{\"level\"") {
                    assert!(!msg.contains('{'), "unfilled placeholder: {msg}");
                }
                if let Some(e) = ctx.err.take() {
                    assert!(!e.message.contains('{'), "{}", e.message);
                }
            }
        }
    }
}
