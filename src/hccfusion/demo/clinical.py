"""Latent patient state and the clinical variables it generates.

Every patient is a vector of standardised latent variables (tumour size, shape irregularity,
texture heterogeneity, necrosis, capsule; hepatic reserve, nutrition, systemic inflammation,
1-month monocyte and prothrombin-time dynamics, hepatocellular injury) plus binary disease
factors. Observed clinical variables are noisy monotone transforms of these latents, with
distributions chosen after Table 1 and the methods of seed 001 (PRIME; uHCC treated with
TACE/HAIC + PD-1 inhibitor + TKI in two Chinese centres: mostly male, HBV-driven, ECOG 0-1,
Child-Pugh A/B, BCLC B/C). The outcome model (:mod:`.outcomes`) is defined on the latents, so it
does not depend on the scale at which the images are rendered.

Composite indices:
    ALBI = 0.66 * log10(bilirubin [umol/L]) - 0.085 * albumin [g/L]; grade 1 <= -2.60 < grade 2
    <= -1.39 < grade 3 (Johnson et al., J Clin Oncol 2015;33:550-558).
    PNI = albumin [g/L] + 5 * lymphocytes [1e9/L] (Onodera et al., 1984).
    Child-Pugh score from bilirubin, albumin, PT prolongation, ascites and encephalopathy
    (Pugh et al., Br J Surg 1973), class A = 5-6, B = 7-9 (inclusion criterion: A/B).
"""

from __future__ import annotations

import math

import numpy as np

# Standardised latent variables (all N(0, 1) marginally).
CONTINUOUS_LATENTS = (
    "size", "irregularity", "heterogeneity", "necrosis", "nutrition", "liver",
    "inflammation", "monocyte_change", "pt_change", "ast",
)

# Prevalences of the binary latents (used to centre them in the linear predictors).
PREVALENCE = {
    "capsule": 0.55, "hbv": 0.80, "metastasis": 0.18, "ecog": 0.35, "combo": 0.40,
}
# PVTT depends on size; its population prevalence (for centring) is E[sigmoid(-1.0 + 0.5 z)].
PVTT_INTERCEPT, PVTT_SIZE = -1.0, 0.5

TUMOUR_NUMBER_P = (0.5, 0.25, 0.25)  # 1, 2, 3 lesions

CLINICAL_COLUMNS = [
    "patient_id", "center", "age", "sex", "hbv", "hcv", "cirrhosis", "ecog_ps",
    "child_pugh_score", "child_pugh_class", "albumin_g_l", "bilirubin_umol_l", "albi",
    "albi_grade", "lymphocytes_1e9_l", "pni", "monocytes_0m", "monocytes_1m", "monocytes_change",
    "pt_0m", "pt_1m", "pt_change", "ast_u_l", "alt_u_l", "afp_ng_ml", "ldh_u_l",
    "tumour_number", "tumour_diameter_mm", "pvtt", "extrahepatic_metastasis", "bclc",
    "treatment", "ici", "tki", "subsequent_therapy", "mrecist_3m", "response_3m",
    "os_days", "os_event", "pfs_days", "pfs_event",
]

# Missing completely at random: probability per lab column (LDH is the one > 30 % column that
# the PRIME preprocessing drops). Derived columns are missing whenever a component is.
MISSING_P = {
    "albumin_g_l": 0.03, "bilirubin_umol_l": 0.03, "lymphocytes_1e9_l": 0.03,
    "monocytes_0m": 0.02, "monocytes_1m": 0.04, "pt_0m": 0.02, "pt_1m": 0.04,
    "ast_u_l": 0.03, "alt_u_l": 0.03, "afp_ng_ml": 0.05, "ldh_u_l": 0.40,
}
DERIVED_FROM = {
    "albi": ("albumin_g_l", "bilirubin_umol_l"),
    "albi_grade": ("albumin_g_l", "bilirubin_umol_l"),
    "pni": ("albumin_g_l", "lymphocytes_1e9_l"),
    "monocytes_change": ("monocytes_0m", "monocytes_1m"),
    "pt_change": ("pt_0m", "pt_1m"),
}


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def sample_latents(rng: np.random.Generator) -> dict[str, float]:
    """Draw one patient's latent state.

    Mild, realistic dependencies: larger tumours are more necrotic and heterogeneous and more
    often invade the portal vein; the marginals stay standard normal.
    """
    e = rng.standard_normal(len(CONTINUOUS_LATENTS))
    z = dict(zip(CONTINUOUS_LATENTS, e, strict=True))
    z["necrosis"] = 0.35 * z["size"] + math.sqrt(1 - 0.35**2) * z["necrosis"]
    z["heterogeneity"] = 0.30 * z["necrosis"] + math.sqrt(1 - 0.30**2) * z["heterogeneity"]
    lat: dict[str, float] = {k: float(v) for k, v in z.items()}
    for name, p in PREVALENCE.items():
        lat[name] = float(rng.random() < p)
    lat["pvtt"] = float(rng.random() < _sigmoid(PVTT_INTERCEPT + PVTT_SIZE * lat["size"]))
    lat["tumour_number"] = float(rng.choice([1, 2, 3], p=TUMOUR_NUMBER_P))
    return lat


def albi_score(albumin: float, bilirubin: float) -> float:
    """ALBI score (Johnson 2015): 0.66 log10(bilirubin umol/L) - 0.085 albumin g/L."""
    return 0.66 * math.log10(bilirubin) - 0.085 * albumin


def albi_grade(albi: float) -> int:
    """ALBI grade: 1 (<= -2.60), 2 (<= -1.39), 3 (> -1.39)."""
    return 1 if albi <= -2.60 else (2 if albi <= -1.39 else 3)


def _child_pugh(bilirubin: float, albumin: float, pt_prolong: float, ascites: int,
                enceph: int) -> int:
    pts = 1 if bilirubin < 34 else (2 if bilirubin <= 50 else 3)
    pts += 1 if albumin > 35 else (2 if albumin >= 28 else 3)
    pts += 1 if pt_prolong < 4 else (2 if pt_prolong <= 6 else 3)
    return pts + ascites + enceph


def clinical_values(lat: dict[str, float], rng: np.random.Generator) -> dict[str, object]:
    """Complete (pre-missingness) clinical variables of one patient, excluding outcomes,
    tumour number/diameter (taken from the rendered geometry) and identifiers."""
    n = rng.standard_normal
    hbv = int(lat["hbv"])
    albumin = 38.5 - 2.4 * lat["liver"] + 2.0 * lat["nutrition"] + 1.6 * n()
    albumin = float(np.clip(albumin, 22.0, 52.0))
    bilirubin = float(np.clip(math.exp(math.log(15.0) + 0.38 * lat["liver"] + 0.25 * n()),
                              3.0, 80.0))
    lymph = math.exp(math.log(1.25) + 0.28 * lat["nutrition"] - 0.12 * lat["inflammation"]
                     + 0.15 * n())
    mono0 = math.exp(math.log(0.42) + 0.25 * lat["inflammation"] + 0.22 * n())
    mono1 = mono0 * math.exp(0.05 + 0.28 * lat["monocyte_change"] + 0.04 * n())
    pt0 = 12.2 + 0.8 * lat["liver"] + 0.5 * n()
    pt1 = pt0 * (1.0 + 0.02 + 0.05 * lat["pt_change"] + 0.008 * n())
    ast = math.exp(math.log(42.0) + 0.45 * lat["ast"] + 0.12 * lat["liver"] + 0.12 * n())
    alt = math.exp(math.log(36.0) + 0.35 * lat["ast"] + 0.35 * n())
    afp = float(np.clip(math.exp(math.log(120.0) + 2.4 * n()), 0.8, 121000.0))
    ldh = math.exp(math.log(210.0) + 0.1 * lat["size"] + 0.25 * n())

    albumin, bilirubin = round(albumin, 1), round(bilirubin, 1)
    lymph, mono0, mono1 = round(lymph, 2), round(max(mono0, 0.05), 2), round(max(mono1, 0.05), 2)
    pt0, pt1 = round(pt0, 1), round(pt1, 1)
    ascites = int(rng.random() < _sigmoid(-2.0 + 1.2 * lat["liver"]))
    enceph = int(rng.random() < 0.02)
    cp = _child_pugh(bilirubin, albumin, pt0 - 11.0, 1 + ascites, 1 + enceph)
    cp = int(min(cp, 9))  # inclusion: Child-Pugh A or B
    albi = albi_score(albumin, bilirubin)
    ecog = int(lat["ecog"])
    pvtt, mets = int(lat["pvtt"]), int(lat["metastasis"])
    if lat["combo"]:
        treatment = "TACE+HAIC"
    else:
        treatment = "TACE" if rng.random() < 0.58 else "HAIC"
    return {
        "age": int(np.clip(round(56.0 + 10.5 * n()), 28, 84)),
        "sex": "M" if rng.random() < 0.86 else "F",
        "hbv": hbv,
        "hcv": int(rng.random() < (0.02 if hbv else 0.20)),
        "cirrhosis": int(rng.random() < _sigmoid(0.65 + 1.1 * lat["liver"])),
        "ecog_ps": ecog,
        "child_pugh_score": cp,
        "child_pugh_class": "A" if cp <= 6 else "B",
        "albumin_g_l": albumin,
        "bilirubin_umol_l": bilirubin,
        "albi": round(albi, 3),
        "albi_grade": albi_grade(albi),
        "lymphocytes_1e9_l": lymph,
        "pni": round(albumin + 5.0 * lymph, 2),
        "monocytes_0m": mono0,
        "monocytes_1m": mono1,
        "monocytes_change": round((mono1 - mono0) / mono0, 4),
        "pt_0m": pt0,
        "pt_1m": pt1,
        "pt_change": round((pt1 - pt0) / pt0, 4),
        "ast_u_l": round(ast),
        "alt_u_l": round(alt),
        "afp_ng_ml": round(afp, 1),
        "ldh_u_l": round(ldh),
        "pvtt": pvtt,
        "extrahepatic_metastasis": mets,
        # BCLC C: vascular invasion, extrahepatic spread or ECOG 1-2; otherwise B (multinodular
        # or large, unresectable).
        "bclc": "C" if (pvtt or mets or ecog >= 1) else "B",
        "treatment": treatment,
        "ici": str(rng.choice(["camrelizumab", "tislelizumab", "sintilimab"], p=[0.45, 0.3, 0.25])),
        "tki": str(rng.choice(["lenvatinib", "apatinib", "donafenib"], p=[0.7, 0.15, 0.15])),
    }


def apply_missingness(values: dict[str, object], rng: np.random.Generator) -> dict[str, object]:
    """Blank lab values completely at random (MCAR) and propagate to derived indices."""
    out = dict(values)
    draws = rng.random(len(MISSING_P))
    for (col, p), u in zip(MISSING_P.items(), draws, strict=True):
        if u < p:
            out[col] = None
    for col, parts in DERIVED_FROM.items():
        if any(out[p] is None for p in parts):
            out[col] = None
    return out
