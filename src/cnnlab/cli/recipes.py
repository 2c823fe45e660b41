"""``cnnlab recipes [NAME]``: list the named training recipes, or print one to copy and edit."""

from __future__ import annotations

from .common import Formatter


def register(sub) -> None:
    p = sub.add_parser(
        "recipes",
        help="list training recipes or print one",
        formatter_class=Formatter,
        description="Without NAME: the built-in training recipes with what they reproduce. "
        "With NAME: the recipe's TOML text (copy it to a file, edit it, and train "
        "with `cnnlab train --recipe FILE.toml`).\n\n"
        "examples:\n  cnnlab recipes\n  cnnlab recipes resnet-cifar > my.toml\n"
        "  cnnlab train --recipe my.toml --data cifar10:PATH --set epochs=20",
    )
    p.add_argument("name", nargs="?", help="recipe name or TOML file to print")
    p.add_argument(
        "--config",
        action="store_true",
        help="print the full resolved settings (every TrainConfig field) instead of the file",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from ..train.recipes import get_recipe, list_recipes

    if not args.name:
        recipes = [get_recipe(n) for n in list_recipes()]
        width = max(len(r.name) for r in recipes)
        for r in recipes:
            print(f"{r.name:<{width}}  {r.description}")
        print("\n`cnnlab recipes NAME` prints one; `cnnlab train --recipe NAME` trains with it.")
        return 0
    recipe = get_recipe(args.name)
    if args.config:
        print(json.dumps(recipe.config().to_dict(), indent=2))
    else:
        print(recipe.text, end="" if recipe.text.endswith("\n") else "\n")
    return 0
