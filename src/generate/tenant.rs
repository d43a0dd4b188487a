//! The synthetic tenant's shape: who works where, which groups license what, and the noise.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Real products and their service plans, from Microsoft's catalog.
const PRODUCTS: &str = include_str!("products.csv");

pub struct Stats {
    pub users: u64,
    pub assignments: u64,
    pub memberships: u64,
    pub groups: usize,
}

struct Product {
    id: &'static str,
    plans: Vec<(&'static str, &'static str)>,
}

fn products() -> BTreeMap<&'static str, Product> {
    let mut m: BTreeMap<&str, Product> = BTreeMap::new();
    for line in PRODUCTS.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        m.entry(f[0])
            .or_insert_with(|| Product {
                id: f[1],
                plans: Vec::new(),
            })
            .plans
            .push((f[2], f[3]));
    }
    m
}

/// SplitMix64, seeded per user so the output never depends on anything but seed and index.
struct Rng(u64);
impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        Rng(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// True with probability `per_mille`/1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[(self.next() % v.len() as u64) as usize]
    }
}

/// A GUID from a seed, a namespace and an index (version-4 layout, deterministic).
pub(super) fn guid(seed: u64, ns: u64, i: u64) -> String {
    let mut r = Rng::new(seed ^ ns.rotate_left(32), i);
    let (a, b) = (r.next(), r.next());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// (department, share ‰, its SKU, plans its template disables, template status).
const DEPARTMENTS: &[(&str, u64, &str, &[&str], &str)] = &[
    ("Engineering", 250, "ENTERPRISEPACK", &[], "proposed"),
    (
        "Sales",
        200,
        "ENTERPRISEPACK",
        &["YAMMER_ENTERPRISE"],
        "proposed",
    ),
    ("Stores", 200, "SPE_F1", &[], "existing"),
    ("Support", 100, "ENTERPRISEPACK", &[], "proposed"),
    ("Finance", 80, "ENTERPRISEPACK", &[], "proposed"),
    ("Marketing", 60, "ENTERPRISEPACK", &["SWAY"], "proposed"),
    (
        "HR",
        40,
        "ENTERPRISEPACK",
        &["YAMMER_ENTERPRISE"],
        "proposed",
    ),
    ("Warehouse", 40, "STANDARDPACK", &[], "proposed"),
    ("Legal", 20, "ENTERPRISEPREMIUM", &[], "proposed"),
    ("Executives", 10, "ENTERPRISEPREMIUM", &[], "proposed"),
];
const COUNTRIES: &[&str] = &[
    "US", "US", "US", "GB", "DE", "NL", "FR", "IN", "BR", "JP", "CA", "AU",
];
const FIRST: &[&str] = &[
    "Adele", "Alex", "Ben", "Chris", "Diego", "Emily", "Grady", "Irvin", "Joni", "Lee", "Lidia",
    "Megan", "Nestor", "Patti", "Pradeep", "Raul", "Sanne", "Ties", "Yara", "Zoë",
];
const LAST: &[&str] = &[
    "Vance", "Wilber", "Walters", "Hansen", "Zamora", "Braun", "Mills", "Stevens", "Brooks",
    "Lambert", "Gu", "Cox", "Bowen", "Graham", "Gupta", "de Vries", "Jansen", "Smit", "Bakker",
    "Özdemir",
];

/// assignments.csv, counting the seats each SKU uses as it goes.
struct Assignments {
    w: BufWriter<std::fs::File>,
    held: BTreeMap<&'static str, u64>,
    count: u64,
    ids: BTreeMap<&'static str, &'static str>,
    /// SKUs the current user already holds a seat of: one seat per SKU, whatever the sources.
    seated: Vec<&'static str>,
}

impl Assignments {
    fn emit(
        &mut self,
        user: &str,
        sku: &'static str,
        group: &str,
        disabled: &str,
        state: &str,
        error: &str,
    ) -> io::Result<()> {
        self.count += 1;
        if state == "Active" && !self.seated.contains(&sku) {
            self.seated.push(sku);
            *self.held.entry(sku).or_default() += 1;
        }
        writeln!(
            self.w,
            "{user},{},{group},{disabled},{state},{error}",
            self.ids[sku]
        )
    }

    fn direct(
        &mut self,
        user: &str,
        sku: &'static str,
        disabled: &str,
        state: &str,
        error: &str,
    ) -> io::Result<()> {
        self.emit(user, sku, "", disabled, state, error)
    }
}

pub fn write(dir: &Path, n: u64, seed: u64) -> io::Result<Stats> {
    let p = products();
    let plan_id = |sku: &str, name: &str| -> &'static str {
        p[sku]
            .plans
            .iter()
            .find(|x| x.1 == name)
            .map_or("", |x| x.0)
    };
    let file = |name: &str| -> io::Result<BufWriter<std::fs::File>> {
        Ok(BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(dir.join(name))?,
        ))
    };

    // Groups: All users, one per department, add-ons, a nested contractors group.
    let mut groups: Vec<(String, String)> = vec![("All users".into(), guid(seed, 1, 0))];
    for (i, d) in DEPARTMENTS.iter().enumerate() {
        groups.push((format!("Dept - {}", d.0), guid(seed, 1, 1 + i as u64)));
    }
    let g_all = groups[0].1.clone();
    let g_dept: Vec<String> = groups[1..].iter().map(|g| g.1.clone()).collect();
    let g_wa = guid(seed, 1, 100);
    let g_execs = guid(seed, 1, 101);
    let g_contractors = guid(seed, 1, 102);
    groups.push(("Workplace Analytics".into(), g_wa.clone()));
    groups.push(("Executives security".into(), g_execs.clone()));
    groups.push(("Contractors".into(), g_contractors.clone()));

    let mut users = file("users.csv")?;
    let mut out = Assignments {
        w: file("assignments.csv")?,
        held: BTreeMap::new(),
        count: 0,
        ids: p.iter().map(|(k, v)| (*k, v.id)).collect(),
        seated: Vec::new(),
    };
    let mut members = file("members.csv")?;
    writeln!(
        users,
        "Id,UserPrincipalName,DisplayName,UsageLocation,AccountEnabled,Department"
    )?;
    writeln!(
        out.w,
        "UserId,SkuId,AssignedByGroup,DisabledPlans,State,Error"
    )?;
    writeln!(members, "GroupId,MemberId,MemberType")?;
    let mut wanted: BTreeMap<&str, u64> = BTreeMap::new();
    let mut n_member = 0u64;
    let cumulative: Vec<u64> = DEPARTMENTS
        .iter()
        .scan(0, |acc, d| {
            *acc += d.1;
            Some(*acc)
        })
        .collect();
    let yammer = plan_id("ENTERPRISEPACK", "YAMMER_ENTERPRISE");
    let forms = plan_id("ENTERPRISEPACK", "FORMS_PLAN_E3");

    for i in 0..n {
        out.seated.clear();
        let mut r = Rng::new(seed, i + 1);
        let id = guid(seed, 2, i);
        let roll = r.next() % 1000;
        let d = cumulative.iter().position(|&c| roll < c).unwrap_or(0);
        let (dept, _, sku, template_disabled, status) = DEPARTMENTS[d];
        let location = if r.chance(10) { "" } else { *r.pick(COUNTRIES) };
        let enabled = if r.chance(30) { "False" } else { "True" };
        let first = r.pick(FIRST);
        let last = r.pick(LAST);
        let upn = format!(
            "{}.{}.{i}@contoso.test",
            first.to_lowercase(),
            last.to_lowercase().replace(' ', "")
        );
        writeln!(
            users,
            "{id},{upn},{first} {last},{location},{enabled},{dept}"
        )?;

        let orphan = r.chance(20); // in no group at all
        let mut add_member = |g: &str| -> io::Result<()> {
            n_member += 1;
            writeln!(members, "{g},{id},User")
        };
        let ems = if dept == "Executives" {
            "EMSPREMIUM"
        } else {
            "EMS"
        };
        // EMS already comes from the All users group, the first step most tenants took; the
        // direct copies were never cleaned up.
        if !orphan {
            out.emit(&id, "EMS", &g_all, "", "Active", "None")?;
        }
        let has_ems = r.chance(970);
        if has_ems {
            out.direct(&id, ems, "", "Active", "None")?;
        }
        let dept_group_member = !orphan && r.chance(980);
        let has_sku = r.chance(950);
        if has_sku {
            // Mostly the template's options; some users have an extra plan on (not covered)
            // or one more off (they gain it).
            let mut disabled: Vec<&str> = template_disabled
                .iter()
                .map(|n| plan_id(sku, n))
                .filter(|x| !x.is_empty())
                .collect();
            if sku == "ENTERPRISEPACK" && r.chance(20) {
                disabled.retain(|x| *x != yammer);
            }
            if sku == "ENTERPRISEPACK" && r.chance(20) && !disabled.contains(&forms) {
                disabled.push(forms);
            }
            let error = r.chance(3);
            let (state, err) = if error {
                ("Error", "CountViolation")
            } else {
                ("Active", "None")
            };
            if status == "existing" && dept_group_member {
                // Frontline staff already get F3 from their group; most also kept a direct copy.
                out.emit(&id, sku, &g_dept[d], "", "Active", "None")?;
                if r.chance(900) {
                    out.direct(&id, sku, "", "Active", "None")?;
                }
            } else {
                out.direct(&id, sku, &disabled.join(";"), state, err)?;
            }
        } else if dept_group_member && status == "proposed" {
            *wanted.entry(sku).or_default() += 1;
        }
        if sku == "ENTERPRISEPACK" && r.chance(5) {
            // A leftover E1: SharePoint Plan 1 and Plan 2 exclude each other.
            out.direct(&id, "STANDARDPACK", "", "Active", "None")?;
        }
        if dept == "Executives" && !has_ems && !orphan {
            *wanted.entry(ems).or_default() += 1;
        }
        let analytics = sku == "ENTERPRISEPACK" && r.chance(20);
        if analytics {
            out.direct(&id, "WORKPLACE_ANALYTICS", "", "Active", "None")?;
        }
        if !orphan {
            add_member(&g_all)?;
            if dept_group_member {
                add_member(&g_dept[d])?;
            } else if dept == "Engineering" && r.chance(500) {
                add_member(&g_contractors)?;
            }
            if analytics {
                add_member(&g_wa)?;
            }
            if dept == "Executives" {
                add_member(&g_execs)?;
            }
        }
    }
    users.flush()?;
    out.w.flush()?;
    let (held, n_assign) = (out.held, out.count);
    writeln!(members, "{},{g_contractors},Group", g_dept[0])?;
    n_member += 1;
    members.flush()?;

    let mut w = file("groups.csv")?;
    writeln!(w, "Id,DisplayName,SecurityEnabled,LicenseProcessingState")?;
    for (name, id) in &groups {
        writeln!(w, "{id},{name},True,ProcessingComplete")?;
    }
    w.flush()?;

    let mut w = file("templates.csv")?;
    writeln!(w, "GroupId,SkuPartNumber,DisabledPlans,Status")?;
    writeln!(w, "{g_all},EMS,,existing")?;
    for (i, (dept, _, sku, disabled, status)) in DEPARTMENTS.iter().enumerate() {
        writeln!(w, "{},{sku},{},{status}", g_dept[i], disabled.join(";"))?;
        if *dept == "Executives" {
            // The short SKU rides in the same group as E5: all or nothing, so an executive
            // who needs a new EMS E5 seat keeps the direct E5 too (SEATS).
            writeln!(w, "{},EMSPREMIUM,,{status}", g_dept[i])?;
        }
    }
    writeln!(w, "{g_execs},EMSPREMIUM,,proposed")?;
    // A common mistake: the add-on without its prerequisite (Exchange) in the same group.
    writeln!(w, "{g_wa},WORKPLACE_ANALYTICS,,proposed")?;
    w.flush()?;

    // Seats: what is held plus head-room for the groups — except EMS E5, which falls short.
    let mut w = file("skus.csv")?;
    writeln!(w, "SkuId,SkuPartNumber,ServicePlanId,ServicePlanName,AppliesTo,ProvisioningStatus,Enabled,Warning,Suspended,ConsumedUnits")?;
    for (part, prod) in &p {
        let consumed = held.get(part).copied().unwrap_or(0);
        let want = wanted.get(part).copied().unwrap_or(0);
        let enabled = if *part == "EMSPREMIUM" {
            consumed + want / 3
        } else {
            consumed + want + consumed / 20 + 10
        };
        for (pid, pname) in &prod.plans {
            writeln!(
                w,
                "{},{part},{pid},{pname},User,Success,{enabled},0,0,{consumed}",
                prod.id
            )?;
        }
    }
    w.flush()?;
    std::fs::write(
        dir.join("organization.csv"),
        format!(
            "Id,DisplayName,CountryLetterCode\n{},Contoso (generated),US\n",
            guid(seed, 3, 0)
        ),
    )?;
    Ok(Stats {
        users: n,
        assignments: n_assign,
        memberships: n_member,
        groups: groups.len(),
    })
}
