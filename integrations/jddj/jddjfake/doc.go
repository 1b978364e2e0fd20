package jddjfake
