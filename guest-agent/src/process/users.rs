//! Users from /etc/passwd and /etc/group, parsed by hand: a static glibc has no NSS.

use std::path::Path;

use crate::error::{AgentError, AgentResult};

/// Credentials and home of the user a process runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    /// Supplementary groups from /etc/group.
    pub groups: Vec<u32>,
}

impl User {
    pub fn root() -> User {
        User { name: "root".into(), uid: 0, gid: 0, home: "/root".into(), groups: Vec::new() }
    }
}

/// Resolves "name", "uid" or "uid:gid" against the given passwd and group files.
pub fn resolve(spec: &str, passwd_path: &Path, group_path: &Path) -> AgentResult<User> {
    let passwd = std::fs::read_to_string(passwd_path).unwrap_or_default();
    let group = std::fs::read_to_string(group_path).unwrap_or_default();
    resolve_in(spec, &passwd, &group)
}

/// Pure resolution over file contents, so it is testable without touching /etc.
pub fn resolve_in(spec: &str, passwd: &str, group: &str) -> AgentResult<User> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Ok(User::root());
    }
    let (user_part, gid_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let explicit_gid = match gid_part {
        Some(g) => Some(g.parse::<u32>().map_err(|_| AgentError::invalid(format!("bad gid in user {:?}", spec)))?),
        None => None,
    };
    let entries: Vec<PasswdEntry> = passwd.lines().filter_map(parse_passwd_line).collect();
    let mut user = if let Ok(uid) = user_part.parse::<u32>() {
        match entries.iter().find(|e| e.uid == uid) {
            Some(entry) => entry.to_user(),
            // A bare uid without an entry is allowed: containers routinely run as such.
            None => User { name: uid.to_string(), uid, gid: uid, home: "/".into(), groups: Vec::new() },
        }
    } else {
        entries
            .iter()
            .find(|e| e.name == user_part)
            .map(PasswdEntry::to_user)
            .ok_or_else(|| AgentError::invalid(format!("unknown user {:?}", user_part)))?
    };
    if let Some(gid) = explicit_gid {
        user.gid = gid;
    }
    user.groups = supplementary_groups(group, &user.name, user.gid);
    Ok(user)
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

impl<'a> PasswdEntry<'a> {
    fn to_user(&self) -> User {
        User { name: self.name.to_string(), uid: self.uid, gid: self.gid, home: self.home.to_string(), groups: Vec::new() }
    }
}

fn parse_passwd_line(line: &str) -> Option<PasswdEntry<'_>> {
    if line.starts_with('#') {
        return None;
    }
    let fields: Vec<&str> = line.split(':').collect();
    if fields.len() < 7 {
        return None;
    }
    Some(PasswdEntry { name: fields[0], uid: fields[2].parse().ok()?, gid: fields[3].parse().ok()?, home: fields[5] })
}

fn supplementary_groups(group: &str, name: &str, primary_gid: u32) -> Vec<u32> {
    let mut gids = vec![primary_gid];
    for line in group.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 4 {
            continue;
        }
        if let Ok(gid) = fields[2].parse::<u32>() {
            if fields[3].split(',').any(|member| member == name) && !gids.contains(&gid) {
                gids.push(gid);
            }
        }
    }
    gids
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n# comment\nbroken line\nsandbox:x:1000:1000::/home/sandbox:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nsandbox:x:1000:\ndocker:x:998:sandbox,other\nwheel:x:10:other\n";

    #[test]
    fn by_name_with_groups() {
        let user = resolve_in("sandbox", PASSWD, GROUP).unwrap();
        assert_eq!((user.uid, user.gid, user.home.as_str()), (1000, 1000, "/home/sandbox"));
        assert_eq!(user.groups, vec![1000, 998]);
    }

    #[test]
    fn numeric_forms() {
        assert_eq!(resolve_in("1000", PASSWD, GROUP).unwrap().name, "sandbox");
        let user = resolve_in("4242:77", PASSWD, GROUP).unwrap();
        assert_eq!((user.uid, user.gid), (4242, 77));
        assert_eq!(resolve_in("", PASSWD, GROUP).unwrap(), User::root());
    }

    #[test]
    fn unknown_and_malformed() {
        assert!(resolve_in("nobody-here", PASSWD, GROUP).is_err());
        assert!(resolve_in("sandbox:x", PASSWD, GROUP).is_err());
    }
}
