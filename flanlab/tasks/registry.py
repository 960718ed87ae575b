"""The task registry: cards read from YAML folders plus generated collections, registered explicitly.

Nothing registers itself on import. `load_registry()` reads the built-in card folders
(`flanlab/tasks/cards/<collection>/...`) and any extra folders the user names, then calls each
registered collection provider with the sources those YAML cards already cover, so a generated
collection never duplicates a written card.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from flanlab.errors import FlanlabError, closest
from flanlab.registries import Registry
from flanlab.tasks.card import TaskCard, load_card
from flanlab.tasks.clusters import CLUSTERS

BUILTIN_CARDS = Path(__file__).parent / "cards"

# (source kind, locator) -> family of the YAML card that uses it; `in` tests coverage.
CoveredSources = Mapping[tuple[str, str], str]
CardProvider = Callable[[CoveredSources], Iterable[TaskCard]]


def register_provider(collection: str, provider: CardProvider) -> None:
    """Add a collection whose cards are generated in code (e.g. from the BIG-bench index).

    The provider receives the sources the YAML cards already cover and must skip them.
    """
    PROVIDERS.register(collection, provider)


class TaskRegistry:
    def __init__(self, cards: Iterable[TaskCard]) -> None:
        self.cards: dict[str, TaskCard] = {}
        for card in cards:
            if card.name in self.cards:
                other = self.cards[card.name].where()
                raise FlanlabError(f"task name {card.name!r} is also defined in {other}", where=card.where())
            self.cards[card.name] = card

    def __len__(self) -> int:
        return len(self.cards)

    def __contains__(self, name: str) -> bool:
        return name in self.cards

    def get(self, name: str) -> TaskCard:
        try:
            return self.cards[name]
        except KeyError:
            hint = closest(name, self.cards.keys())
            raise FlanlabError(f"unknown task {name!r}{hint} (see `flanlab tasks list`)") from None

    def check_cluster(self, name: str) -> None:
        """An unknown cluster name is an error that lists the known ones."""
        known = set(CLUSTERS) | set(self.clusters())
        if name not in known:
            raise FlanlabError(f"unknown cluster {name!r}{closest(name, known)}; known: {', '.join(sorted(known))}")

    def check_collections(self, names: Iterable[str]) -> None:
        known = self.collections()
        for name in names:
            if name not in known:
                raise FlanlabError(f"unknown collection {name!r}{closest(name, known)}; known: {', '.join(known)}")

    def select(
        self,
        *,
        names: Iterable[str] | None = None,
        clusters: Iterable[str] | None = None,
        collections: Iterable[str] | None = None,
        include_eval_only: bool = True,
    ) -> list[TaskCard]:
        """Cards matching every given filter, sorted by name."""
        wanted_names = set(names) if names is not None else None
        wanted_clusters = set(clusters) if clusters is not None else None
        wanted_collections = set(collections) if collections is not None else None
        if wanted_names:
            for name in wanted_names:
                self.get(name)
        chosen = [
            card
            for card in self.cards.values()
            if (wanted_names is None or card.name in wanted_names)
            and (wanted_clusters is None or card.cluster in wanted_clusters)
            and (wanted_collections is None or card.collection in wanted_collections)
            and (include_eval_only or not card.eval_only)
        ]
        return sorted(chosen, key=lambda card: card.name)

    def clusters(self) -> list[str]:
        return sorted({card.cluster for card in self.cards.values()})

    def collections(self) -> list[str]:
        return sorted({card.collection for card in self.cards.values()})


def read_card_folder(folder: Path) -> list[TaskCard]:
    return [load_card(path) for path in card_files(folder)]


def card_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise FlanlabError("no such card folder", where=str(folder))
    return sorted(folder.rglob("*.yaml"))


def builtin_folders() -> list[Path]:
    """The built-in card folders, one per collection (``cards/core``, ``cards/bbh``, ...)."""
    return sorted(path for path in BUILTIN_CARDS.iterdir() if path.is_dir())


def covered_sources(cards: Iterable[TaskCard]) -> dict[tuple[str, str], str]:
    return {(card.source.kind, card.source.locator): card.family_name for card in cards}


def generated_cards(covered: CoveredSources, collections: Iterable[str] | None = None) -> list[TaskCard]:
    """The cards of every registered provider (those of ``collections`` only, if given)."""
    wanted = set(collections) if collections is not None else None
    cards: list[TaskCard] = []
    for collection in PROVIDERS.names():
        if wanted is None or collection in wanted:
            cards.extend(PROVIDERS.get(collection)(covered))
    return cards


def load_registry(extra_folders: Iterable[Path] = (), *, collections: Iterable[str] | None = None) -> TaskRegistry:
    """Every known task: built-in cards, generated collections, and user card folders.

    ``collections`` limits which built-in and generated collections are returned; every YAML card
    is still read, because the generated collections must skip the sources they cover.
    """
    wanted = set(collections) if collections is not None else None
    builtin = {folder.name: read_card_folder(folder) for folder in builtin_folders()}
    extra = [card for folder in extra_folders for card in read_card_folder(Path(folder))]
    covered = covered_sources([*(card for cards in builtin.values() for card in cards), *extra])
    chosen = [card for name, cards in builtin.items() if wanted is None or name in wanted for card in cards]
    return TaskRegistry([*chosen, *generated_cards(covered, wanted), *extra])


def _add_builtin_providers(providers: Registry[CardProvider]) -> None:
    """The generated collections that ship with flanlab (explicit, not an import side effect)."""
    from flanlab.tasks import generated

    providers.register(generated.BIGBENCH, generated.bigbench_provider)
    providers.register(generated.NATURAL_INSTRUCTIONS, generated.natural_instructions_provider)


PROVIDERS: Registry[CardProvider] = Registry("card provider", _add_builtin_providers)
