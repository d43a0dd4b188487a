//! Raw clap arguments → validated settings. Nothing runs on an unchecked flag.

use crate::cli::{SeatFormula, SimArgs};
use crate::error::{Error, Result};
use crate::ingest::{FileKind, SnapshotSpec};
use crate::model::Country;
use std::path::Path;

/// What every simulating command shares: which files, and how to simulate.
#[derive(Debug, Clone)]
pub struct Simulation {
    pub snapshot: SnapshotSpec,
    pub tenant_location: Option<Country>,
    pub seat_formula: SeatFormula,
}

impl Simulation {
    pub fn from_args(
        snapshot: &Path,
        sim: &SimArgs,
        wave_by: Option<String>,
    ) -> Result<Simulation> {
        let tenant_location = match &sim.tenant_location {
            None => None,
            Some(s) => Some(Country::parse(s.trim()).ok_or_else(|| {
                Error::Usage(
                    format!("--tenant-location {s:?} is not a two-letter country code"),
                    Some("use an ISO 3166-1 alpha-2 code such as US, NL or DE".into()),
                )
            })?),
        };
        let pairs = [
            (FileKind::Skus, &sim.files.skus),
            (FileKind::Users, &sim.files.users),
            (FileKind::Assignments, &sim.files.assignments),
            (FileKind::Groups, &sim.files.groups),
            (FileKind::Members, &sim.files.members),
            (FileKind::Templates, &sim.files.templates),
            (FileKind::Organization, &sim.files.organization),
            (FileKind::Rules, &sim.files.rules),
            (FileKind::Catalog, &sim.files.catalog),
        ];
        let overrides = pairs
            .into_iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
            .collect();
        if let Some(w) = &wave_by {
            if w.trim().is_empty() {
                return Err(Error::usage(
                    "--wave-by needs a column name of the users file",
                ));
            }
        }
        Ok(Simulation {
            snapshot: SnapshotSpec {
                root: snapshot.to_path_buf(),
                overrides,
                wave_by,
                wave_by_flag: None,
                tenant_location,
                templates_optional: false,
            },
            tenant_location,
            seat_formula: sim.seat_formula,
        })
    }
}

/// A duration as a person writes it: `150s`, `500ms`, `2m`, `1.5s`.
pub fn duration(flag: &str, s: &str) -> Result<std::time::Duration> {
    let t = s.trim();
    let (num, unit) = t
        .find(|c: char| c.is_ascii_alphabetic())
        .map_or((t, "s"), |i| t.split_at(i));
    let n: f64 = num.trim().parse().map_err(|_| bad_duration(flag, s))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(bad_duration(flag, s)),
    };
    if !secs.is_finite() || secs < 0.0 || secs > 86_400.0 {
        return Err(bad_duration(flag, s));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

fn bad_duration(flag: &str, s: &str) -> Error {
    Error::Usage(
        format!("{flag} {s:?} is not a duration"),
        Some("write it as 150s, 500ms or 2m".into()),
    )
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Plain HTTP only to this machine: a token is never sent in clear text over a network.
fn endpoint(flag: &str, url: &str) -> Result<String> {
    let url = url.trim().trim_end_matches('/').to_string();
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| url.starts_with(p));
    if url.starts_with("https://") || loopback {
        return Ok(url);
    }
    Err(Error::Usage(
        format!("{flag} {url} is neither https:// nor http:// on this machine"),
        Some("the token would cross the network in clear text: use https, or the sandbox on 127.0.0.1".into()),
    ))
}

/// `--auth`, `--cloud`, `--graph-url` and the environment → where to connect and how to sign in.
pub fn connection(a: &crate::cli::GraphArgs) -> Result<crate::graph::Connection> {
    use crate::cli::AuthMethod as A;
    use crate::graph::SignIn;
    let mut cloud = crate::graph::Cloud::named(a.cloud.as_str()).expect("every --cloud is named");
    if let Some(u) = a.graph_url.clone().or_else(|| env("LICSHIFT_GRAPH_URL")) {
        let u = endpoint("--graph-url", &u)?;
        if !u.ends_with("/v1.0") {
            return Err(Error::Usage(
                format!("--graph-url {u} does not end in /v1.0"),
                Some("licshift speaks Graph v1.0: give the URL up to and including /v1.0".into()),
            ));
        }
        cloud.graph = u;
    }
    if let Some(u) = a.login_url.clone().or_else(|| env("LICSHIFT_LOGIN_URL")) {
        cloud.login = endpoint("--login-url", &u)?;
    }
    let tenant = a.tenant.clone().or_else(|| env("AZURE_TENANT_ID"));
    let client = env("AZURE_CLIENT_ID");
    let need = |what: &str, v: Option<String>| {
        v.ok_or_else(|| {
            Error::Usage(
                format!("--auth needs {what}"),
                Some("set it in the environment (or the flag), or choose another --auth".into()),
            )
        })
    };
    let app = |secret: bool| -> Result<SignIn> {
        let tenant = need("AZURE_TENANT_ID (or --tenant)", tenant.clone())?;
        let client = need("AZURE_CLIENT_ID", client.clone())?;
        Ok(if secret {
            SignIn::Secret {
                tenant,
                client,
                secret: need("AZURE_CLIENT_SECRET", env("AZURE_CLIENT_SECRET"))?,
            }
        } else {
            SignIn::Certificate {
                tenant,
                client,
                path: need(
                    "AZURE_CLIENT_CERTIFICATE_PATH",
                    env("AZURE_CLIENT_CERTIFICATE_PATH"),
                )?
                .into(),
            }
        })
    };
    let device = || -> Result<SignIn> {
        Ok(SignIn::DeviceCode {
            tenant: tenant.clone().unwrap_or_else(|| "organizations".into()),
            client: need(
                "--client-id (the tenant's app registration)",
                a.client_id.clone(),
            )?,
        })
    };
    let sign_in = match a.auth {
        A::Token => SignIn::Token(need("LICSHIFT_GRAPH_TOKEN", env("LICSHIFT_GRAPH_TOKEN"))?),
        A::AzureCli => SignIn::AzureCli { tenant },
        A::Secret => app(true)?,
        A::Certificate => app(false)?,
        A::DeviceCode => device()?,
        A::Auto => {
            if let Some(t) = env("LICSHIFT_GRAPH_TOKEN") {
                SignIn::Token(t)
            } else if client.is_some()
                && tenant.is_some()
                && env("AZURE_CLIENT_CERTIFICATE_PATH").is_some()
            {
                app(false)?
            } else if client.is_some() && tenant.is_some() && env("AZURE_CLIENT_SECRET").is_some() {
                app(true)?
            } else if a.client_id.is_some() {
                device()?
            } else {
                SignIn::AzureCli { tenant }
            }
        }
    };
    Ok(crate::graph::Connection {
        cloud,
        sign_in,
        max_attempts: 10,
        write_rate: crate::graph::GRAPH_WRITES_PER_SECOND,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_people_write_them() {
        use std::time::Duration;
        assert_eq!(duration("--x", "150s").unwrap(), Duration::from_secs(150));
        assert_eq!(
            duration("--x", "500ms").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(duration("--x", "2m").unwrap(), Duration::from_secs(120));
        assert_eq!(duration("--x", "1.5").unwrap(), Duration::from_millis(1500));
        for bad in ["", "s", "-1s", "3h", "1e9s"] {
            assert!(duration("--x", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_token_never_crosses_the_network_in_clear_text() {
        assert!(endpoint("--graph-url", "http://127.0.0.1:8080/v1.0").is_ok());
        assert!(endpoint("--graph-url", "https://graph.microsoft.us/v1.0").is_ok());
        assert!(endpoint("--graph-url", "http://graph.example.com/v1.0").is_err());
    }
}
