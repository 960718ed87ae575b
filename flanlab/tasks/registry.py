"""The task registry: cards read from YAML folders plus generated collections, registered explicitly.

Nothing registers itself on import. `load_registry()` reads the built-in card folders
(`flanlab/tasks/cards/<collection>/...`), calls each registered collection provider, and adds any
extra folders the user names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from flanlab.errors import FlanlabError
from flanlab.tasks.card import TaskCard, load_card

BUILTIN_CARDS = Path(__file__).parent / "cards"

CardProvider = Callable[[], Iterable[TaskCard]]
_PROVIDERS: dict[str, CardProvider] = {}


def register_provider(collection: str, provider: CardProvider) -> None:
    """Add a collection whose cards are generated in code (e.g. from the BIG-bench index)."""
    _PROVIDERS[collection] = provider


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
            raise FlanlabError(f"unknown task {name!r} (see `flanlab tasks list`)") from None

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
    if not folder.is_dir():
        raise FlanlabError("no such card folder", where=str(folder))
    return [load_card(path) for path in sorted(folder.rglob("*.yaml"))]


def load_registry(
    extra_folders: Iterable[Path] = (), *, collections: Iterable[str] | None = None
) -> TaskRegistry:
    """Every known task: built-in cards, generated collections, and user card folders.

    ``collections`` limits which built-in and generated collections are read (faster listings).
    """
    wanted = set(collections) if collections is not None else None
    cards: list[TaskCard] = []
    for folder in sorted(path for path in BUILTIN_CARDS.iterdir() if path.is_dir()):
        if wanted is None or folder.name in wanted:
            cards.extend(read_card_folder(folder))
    _register_builtin_providers()
    for collection, provider in sorted(_PROVIDERS.items()):
        if wanted is None or collection in wanted:
            cards.extend(provider())
    for folder in extra_folders:
        cards.extend(read_card_folder(Path(folder)))
    return TaskRegistry(cards)


def _register_builtin_providers() -> None:
    """The generated collections that ship with flanlab (explicit, not an import side effect)."""
