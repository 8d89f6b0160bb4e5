"""What the PGx service must never do: lose a patient, hide a risk, guess, or ignore consent."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from clarity.bus import Bus, MemoryTransport
from clarity.contracts import GeneCall, PGxGuidance, PGxPanelResult, PGxPhenotype, PGxSource
from clarity.errors import InputError
from clarity.pgx import (
    PgxService,
    call_vcf,
    convert,
    gene_definition,
    guidance_for,
    match_gene,
    phenotype_from_call,
    phenotype_from_match,
)
from clarity.pgx._vcf import Genotype
from tests.pgx.test_service import (
    EXAMPLE,
    WHEN,
    _genotype,
    _medication,
    _outputs,
    _panel,
    _record,
    needs_example,
)


def _guidance(bus: Bus, group: str) -> dict[str, PGxGuidance]:
    return {
        r.payload.drug: r.payload
        for r in _outputs(bus, "pgx.guidance", group)
        if isinstance(r.payload, PGxGuidance)
    }


def _panel_of(*calls: tuple[str, str], days: int = 0):
    result = PGxPanelResult(
        lab="L", panel=f"P{days}", calls=tuple(GeneCall(gene=g, diplotype=d) for g, d in calls)
    )
    return _record("ingest.pgx", result, when=WHEN + timedelta(days=days))


def test_a_panel_with_genes_clarity_does_not_cover__keeps_the_rest():
    bus = Bus(transport=MemoryTransport())
    bus.publish(_panel_of(("CYP2C19", "*1/*2"), ("SLCO1B1", "*1/*5")))
    report = PgxService().run(bus)
    assert report.rejected == 0
    genes = {r.payload.gene for r in _outputs(bus, "pgx.phenotype", "g")}
    assert genes == {"CYP2C19"}


def test_likely_poor_metaboliser__gets_the_poor_metaboliser_guidance_with_a_note():
    bus = Bus(transport=MemoryTransport())
    bus.publish(_panel_of(("CYP2C19", "*2/*9")))
    report = PgxService().run(bus)
    assert report.rejected == 0
    [phenotype] = [r.payload for r in _outputs(bus, "pgx.phenotype", "g")]
    assert phenotype.phenotype == "Likely Poor Metabolizer"
    citalopram = _guidance(bus, "g2")["citalopram"]
    assert citalopram.phenotypes["CYP2C19"] == "Poor Metabolizer"
    assert citalopram.recommendations[0].action.value == "use_alternative"
    assert any("Likely Poor Metabolizer" in n for n in citalopram.notes)


@needs_example
def test_provisional_cyp2d6_from_a_vcf__does_not_drive_guidance(tmp_path: Path):
    vcf = tmp_path / "s.vcf"
    shutil.copy(EXAMPLE, vcf)
    [genes] = call_vcf(vcf).values()
    assert genes["CYP2D6"].provisional and genes["CYP2D6"].called
    paroxetine = next(g for g in guidance_for(genes) if g.drug == "paroxetine")
    assert paroxetine.status.value == "no_recommendation"
    assert paroxetine.phenotypes["CYP2D6"] is None
    assert "provisional" in paroxetine.notes[0]


def test_a_second_panel_does_not_hide_hla_b_1502_from_the_first():
    bus = Bus(transport=MemoryTransport())
    bus.publish_batch(
        [_panel_of(("HLA-B", "*15:02/*44:02")), _panel_of(("CYP2C19", "*2/*2"), days=1)]
    )
    PgxService().run(bus)
    carbamazepine = _guidance(bus, "g")["carbamazepine"]
    assert carbamazepine.recommendations[0].action.value == "avoid"


def test_two_panels_disagreeing__newest_wins_with_a_conflict():
    bus = Bus(transport=MemoryTransport())
    bus.publish_batch([_panel_of(("CYP2C19", "*1/*1")), _panel_of(("CYP2C19", "*2/*2"), days=1)])
    PgxService().run(bus)
    [latest] = [r.payload for r in _outputs(bus, "pgx.phenotype", "g")]
    assert latest.diplotypes == ("*2/*2",)
    assert "an earlier panel reported *1/*1" in latest.conflicts[0]


def test_missing_key_loci__say_which_other_phenotypes_remain_possible():
    definition = gene_definition("CYP2C19")
    key = {"rs4244285", "rs12769205", "rs57700608"}
    genotypes = {
        i: Genotype("G", "G", False)
        if locus.rsid == "rs3758581"
        else Genotype(locus.ref, locus.ref, False)
        for i, locus in enumerate(definition.loci)
        if locus.rsid not in key
    }
    result = phenotype_from_match(match_gene(definition, genotypes), [])
    assert result.diplotypes == ("*1/*1",) and result.phenotype == "Normal Metabolizer"
    assert "Poor Metabolizer" in result.possible_phenotypes
    assert any("rs4244285" in m and "also possible" in m for m in result.messages)
    citalopram = next(g for g in guidance_for({"CYP2C19": result}) if g.drug == "citalopram")
    assert citalopram.status.value == "partial" and "also possible" in citalopram.notes[0]


@needs_example
def test_consent_is_checked_for_inputs_read_back_from_the_store(tmp_path: Path):
    from clarity.store import SqliteFeatureStore, materialize

    vcf = tmp_path / "s.vcf"
    shutil.copy(EXAMPLE, vcf)
    bus = Bus(transport=MemoryTransport())
    bus.publish_batch([_genotype(vcf), _panel()])
    store = SqliteFeatureStore(tmp_path / "store.sqlite3")
    genomic = {"ingest.genotype", "ingest.pgx", "pgx.phenotype"}
    try:
        materialize(bus, store, group="history")
        refuse_genomic = PgxService(store=store, allowed=lambda _p, topic: topic not in genomic)
        first = refuse_genomic.run(bus)
        bus.publish(_medication("paroxetine"))
        second = refuse_genomic.run(bus)
        assert first.skipped == 2 and second.phenotypes == 0 and second.guidance == 0
        assert _outputs(bus, "pgx.phenotype", "g") == []
    finally:
        store.close()


@needs_example
def test_outside_calls_with_a_multi_sample_vcf__are_refused(tmp_path: Path):
    lines = EXAMPLE.read_text().splitlines()
    doubled = [
        f"{line}\tSample_2"
        if line.startswith("#CHROM")
        else line
        if line.startswith("#")
        else f"{line}\t{line.split(chr(9))[-1]}"
        for line in lines
    ]
    vcf = tmp_path / "two.vcf"
    vcf.write_text("\n".join(doubled) + "\n")
    outside = [
        c for c in __import__("clarity.pgx", fromlist=["x"]).parse_outside_calls("CYP2D6\t*1/*4\n")
    ]
    with pytest.raises(InputError, match="belong to one person"):
        call_vcf(vcf, outside=outside)
    assert set(call_vcf(vcf, samples=["Sample_2"], outside=outside)) == {"Sample_2"}


@needs_example
def test_a_new_guidance_version_publishes_a_new_result_set(tmp_path: Path, monkeypatch):
    import clarity.pgx._guidance as guidance

    vcf = tmp_path / "s.vcf"
    shutil.copy(EXAMPLE, vcf)
    bus = Bus(transport=MemoryTransport())
    bus.publish(_genotype(vcf))
    assert PgxService().run(bus).guidance > 0
    monkeypatch.setattr(guidance, "guidance_version", lambda: "999.0.0")
    assert PgxService().run(bus, group="again").guidance > 0


@needs_example
def test_a_changed_vcf_is_refused_alone_and_the_panel_still_counts(tmp_path: Path):
    vcf = tmp_path / "s.vcf"
    shutil.copy(EXAMPLE, vcf)
    bus = Bus(transport=MemoryTransport())
    record = _genotype(vcf)
    vcf.write_text(vcf.read_text().replace("0/0", "0/1", 1))
    bus.publish_batch([record, _panel_of(("CYP2D6", "*4/*4"))])
    service = PgxService()
    report = service.run(bus)
    assert report.rejected == 1
    [cyp2d6] = [r.payload for r in _outputs(bus, "pgx.phenotype", "g")]
    assert cyp2d6.phenotype == "Poor Metabolizer"
    bus.publish(_medication("sertraline"))
    later = service.run(bus)
    assert later.rejected == 0 and later.phenotypes == 1  # the panel is still known


def test_phenotype_only_outside_calls__are_normalised_or_refused():
    call = phenotype_from_call(
        "CYP2D6", None, source=PGxSource.outside_call, reported_phenotype="um"
    )
    assert call.phenotype == "Ultrarapid Metabolizer"
    converted = phenotype_from_call(
        "CYP2D6",
        None,
        source=PGxSource.outside_call,
        reported_phenotype="Ultrarapid Metabolizer",
        medications=["duloxetine"],
    )
    assert converted.adjusted_phenotype == "Normal Metabolizer"  # CYP2D6 has no "Rapid"
    with pytest.raises(InputError, match="not one CPIC defines for CYP2D6"):
        phenotype_from_call(
            "CYP2D6", None, source=PGxSource.outside_call, reported_phenotype="Rapid Metabolizer"
        )


def test_unknown_copy_number__is_said_and_never_guessed_into_a_phenotype():
    ambiguous = phenotype_from_call("CYP2D6", "*1/*41xN", source=PGxSource.outside_call)
    assert ambiguous.phenotype == "Indeterminate"  # 2 copies: 2.0 (NM); 3 copies: 2.5 (UM)
    assert any("copy number unknown" in m for m in ambiguous.messages)
    settled = phenotype_from_call("CYP2D6", "*4/*4xN", source=PGxSource.outside_call)
    assert settled.phenotype == "Poor Metabolizer"
    decreased = phenotype_from_call("CYP2D6", "*1/*41x2", source=PGxSource.outside_call)
    assert decreased.alleles[1].function == "Decreased function"


def test_medication_names_as_coded__still_phenoconvert():
    result = convert("CYP2D6", "Normal Metabolizer", 2.0, ["Fluoxetine 20 MG Oral Capsule"])
    assert result.phenotype == "Poor Metabolizer" and result.inhibitors == ("fluoxetine",)


def test_every_recommendation_says_what_it_rests_on():
    result = phenotype_from_call("CYP2C19", "*2/*2", source=PGxSource.panel)
    guidance = {g.drug: g for g in guidance_for({"CYP2C19": result})}
    citalopram = guidance["citalopram"].recommendations[0]
    assert citalopram.basis.value == "cpic_text" and citalopram.text
    ultrarapid = phenotype_from_call("CYP2C19", "*17/*17", source=PGxSource.panel)
    escitalopram = next(
        g for g in guidance_for({"CYP2C19": ultrarapid}) if g.drug == "escitalopram"
    )
    assert escitalopram.recommendations[0].basis.value == "action_class"
    assert escitalopram.recommendations[0].text is None


def test_phenotype_records_round_trip_through_the_contract():
    record = phenotype_from_call("CYP2C19", "*2/*2", source=PGxSource.panel)
    assert PGxPhenotype.model_validate(record.model_dump(mode="json")) == record
