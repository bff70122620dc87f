//! The catalog the server publishes (`GET /registro/catalogo`) and the three committees the
//! generated forms use, so every delegation choice is one the server's catalog check accepts.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Catalog {
    pub comites: Vec<Comite>,
}

#[derive(Debug, Deserialize)]
pub struct Comite {
    pub codigo: String,
    #[serde(default)]
    pub modalidades: Vec<String>,
    #[serde(default)]
    pub grupos: Vec<Grupo>,
}

#[derive(Debug, Deserialize)]
pub struct Grupo {
    #[serde(default)]
    pub delegaciones: Vec<Delegacion>,
}

#[derive(Debug, Deserialize)]
pub struct Delegacion {
    pub valor: String,
}

/// A committee code with the `valor` of each of its delegations.
#[derive(Clone, Debug)]
pub struct PickedComite {
    pub codigo: String,
    pub valores: Vec<String>,
}

/// Three distinct committees that accept `individual` and have at least three delegations.
#[derive(Clone, Debug)]
pub struct Pick {
    pub comites: [PickedComite; 3],
}

impl Catalog {
    pub fn pick(&self) -> Result<Pick, String> {
        let mut chosen: Vec<PickedComite> = Vec::new();
        for c in &self.comites {
            if !c.modalidades.iter().any(|m| m == "individual")
                || chosen.iter().any(|p| p.codigo == c.codigo)
            {
                continue;
            }
            let mut valores: Vec<String> = Vec::new();
            for v in c.grupos.iter().flat_map(|g| &g.delegaciones) {
                if !valores.contains(&v.valor) {
                    valores.push(v.valor.clone());
                }
            }
            if valores.len() >= 3 {
                chosen.push(PickedComite {
                    codigo: c.codigo.clone(),
                    valores,
                });
            }
            if chosen.len() == 3 {
                break;
            }
        }
        let n = chosen.len();
        let comites: [PickedComite; 3] = chosen.try_into().map_err(|_| {
            format!("catalog has only {n} committees allowing `individual` with >= 3 delegations")
        })?;
        Ok(Pick { comites })
    }
}

pub async fn fetch(client: &reqwest::Client, target: &str) -> Result<Pick, String> {
    let url = format!("{target}/registro/catalogo");
    let resp = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("GET {url}: status {}", resp.status()));
    }
    let catalog: Catalog = resp
        .json()
        .await
        .map_err(|e| format!("GET {url}: bad catalog JSON: {e}"))?;
    catalog.pick()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_three_individual_committees_with_enough_delegations() {
        let json = r#"{"comites":[
          {"codigo":"A","modalidades":["individual"],"grupos":[{"delegaciones":[{"valor":"A:1"},{"valor":"A:2"}]}]},
          {"codigo":"B","modalidades":["pareja"],"grupos":[{"delegaciones":[{"valor":"B:1"},{"valor":"B:2"},{"valor":"B:3"}]}]},
          {"codigo":"C","modalidades":["individual","pareja"],"grupos":[{"delegaciones":[{"valor":"C:1"}]},{"delegaciones":[{"valor":"C:2"},{"valor":"C:3"}]}]},
          {"codigo":"D","modalidades":["individual"],"grupos":[{"delegaciones":[{"valor":"D:1"},{"valor":"D:2"},{"valor":"D:3"}]}]},
          {"codigo":"E","modalidades":["individual"],"grupos":[{"delegaciones":[{"valor":"E:1"},{"valor":"E:2"},{"valor":"E:3"}]}]}
        ]}"#;
        let catalog: Catalog = serde_json::from_str(json).unwrap();
        let pick = catalog.pick().unwrap();
        let codes: Vec<_> = pick.comites.iter().map(|c| c.codigo.as_str()).collect();
        assert_eq!(codes, ["C", "D", "E"]);
        assert_eq!(pick.comites[0].valores, ["C:1", "C:2", "C:3"]);
    }

    #[test]
    fn too_small_a_catalog_is_an_error() {
        let catalog: Catalog = serde_json::from_str(r#"{"comites":[]}"#).unwrap();
        assert!(catalog.pick().is_err());
    }
}
