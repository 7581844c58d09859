"""A batch's summary when storyboards make several films (`variants:`): each storyboard file gets one entry,
listing every film it made, however many variants it has.

A storyboard without variants or deliverables keeps the entry it always had (`Finished.summary`); one with them
gets the first film's `film`, `manifest` and `review` (so scripts reading those keys still find a film), `shots`
keyed `<label>/<shot>` (`film_label`), `generated` and `reused` summed over its films, every delivered file under
`films`, and each film's own entry under `by_film`, by label.
"""

FilmKey = tuple[str, str | None]  # (storyboard file, film_label or None)


def film_label(variant: str | None, deliverable: str | None) -> str | None:
    """How a storyboard's film is named in its summary: `<variant>`, `<variant>/<deliverable>` (a `render`
    deliverable's own film) or `<deliverable>`; None for the one film of a storyboard without versions."""
    return "/".join(part for part in (variant, deliverable) if part) or None


def batch_summary(order: list[str], succeeded: dict[FilmKey, dict], failed: dict[FilmKey, str],
                  planned: list[FilmKey] | None = None, unique: dict[str, int] | None = None) -> dict:
    """{"succeeded": file -> entry, "failed": file -> why} in the order of `order`, from per-film results, each
    storyboard's films in the order they were `planned` (films finish in any order). A storyboard fails when any of
    its films failed. `unique`: per file, how many distinct shots (content hashes) its films hold."""
    summary: dict = {"succeeded": {}, "failed": {}}
    rank = {key: index for index, key in enumerate(planned or [])}
    for file in order:
        films = sorted(((variant, entry) for (f, variant), entry in succeeded.items() if f == file),
                       key=lambda film: rank.get((file, film[0]), len(rank)))
        failures = [(variant, why) for (f, variant), why in failed.items() if f == file]
        if failures:
            summary["failed"][file] = "; ".join(why if variant is None else f"{variant}: {why}"
                                                for variant, why in failures)
        elif films:
            summary["succeeded"][file] = storyboard_entry(films)
            if len(films) > 1 and unique and file in unique:
                summary["succeeded"][file]["unique_shots"] = unique[file]
    return summary


def storyboard_entry(films: list[tuple[str | None, dict]]) -> dict:
    """One storyboard's entry from its films' entries (one without variants: that entry as it is)."""
    if len(films) == 1 and films[0][0] is None:
        return films[0][1]
    first = films[0][1]
    return {
        "film": first["film"], "manifest": first["manifest"], "review": first["review"], "frames": first["frames"],
        "shots": {f"{variant}/{shot}": status for variant, entry in films for shot, status in entry["shots"].items()},
        "generated": sum(entry["generated"] for _, entry in films),
        "reused": sum(entry["reused"] for _, entry in films),
        "films": [film for _, entry in films for film in entry["films"]],
        "by_film": {label: entry for label, entry in films},
    }
